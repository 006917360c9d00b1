"""The playground end to end: chromium -> our page -> our gateway -> the fake OpenRouter -> the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from catalog.models import CatalogModel, PriceVersion
from tests.browser.conftest import log_in
from usage.models import LedgerEntry

T0 = datetime(2026, 8, 1, tzinfo=UTC)
PRICES = {
    # model id: (prompt, completion, input_cache_read) in USD per token
    "openai/gpt-4o": ("0.0000025", "0.00001", "0.00000125"),
    "anthropic/claude-sonnet-4": ("0.000003", "0.000015", "0.0000003"),
}
# Records every text the first reply shows, so a test can see the reply arrive piece by piece.
RECORD_PIECES = """() => {
  window.pieces = [];
  new MutationObserver(() => {
    const text = document.querySelector('.pg-reply .pg-text');
    if (text && text.textContent && window.pieces.at(-1) !== text.textContent) window.pieces.push(text.textContent);
  }).observe(document.getElementById('pg-conversation'), {subtree: true, childList: true, characterData: true});
}"""

PYTHON_CODE = """import os

from openai import OpenAI

client = OpenAI(base_url="{base}", api_key=os.environ["TOKENLEDGER_API_KEY"])
stream = client.chat.completions.create(
    model="openai/gpt-4o",
    messages=[
        {{
            "role": "user",
            "content": "Say hello"
        }}
    ],
    temperature=0.3,
    max_tokens=50,
    stream=True,
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()"""


@pytest.fixture
def catalogue(transactional_db):
    """Two current models with exact prices, in the DB before the gateway starts (it indexes prices)."""
    for model_id, (prompt, completion, cache_read) in PRICES.items():
        model = CatalogModel.objects.create(
            model_id=model_id,
            name=model_id.split("/")[1],
            author=model_id.split("/")[0],
            context_length=128000,
            supported_parameters=["temperature", "max_tokens"],
            first_seen=T0,
            last_seen=T0,
        )
        PriceVersion.objects.create(
            catalog_model=model,
            valid_from=T0 - timedelta(days=1),
            prompt=Decimal(prompt),
            completion=Decimal(completion),
            input_cache_read=Decimal(cache_read),
            input_cache_write=Decimal(0),
            internal_reasoning=Decimal(0),
            request=Decimal(0),
            image=Decimal(0),
            web_search=Decimal(0),
        )


@pytest.fixture
def playground(catalogue, gateway_server, member, page):
    log_in(page, gateway_server.url, "member")
    page.goto(f"{gateway_server.url}/playground/")
    page.select_option("select[name=model0]", "openai/gpt-4o")
    return gateway_server


def send(page, prompt: str) -> None:
    page.fill("#pg-prompt", prompt)
    page.click("#pg-send")


def test_a_prompt_streams_its_reply_in_pieces_with_the_cost_line_and_a_ledger_row(playground, page, member):
    playground.fake.reply(
        text="Hello from the fake",
        chunks=4,
        chunk_delay=0.15,
        prompt_tokens=1200,
        cached_tokens=200,
        completion_tokens=300,
        reasoning_tokens=100,
        cost="0.0057",
    )
    page.evaluate(RECORD_PIECES)
    page.fill("#pg-temperature", "0.3")
    page.fill("#pg-max_tokens", "50")

    send(page, "Say hello")

    reply = page.locator(".pg-reply")
    reply.locator(".pg-ledger-link").wait_for()
    assert page.evaluate("window.pieces") == ["Hello", "Hello from", "Hello from the ", "Hello from the fake"]
    assert reply.locator(".pg-state").text_content() == "ok"
    stats = {
        name: reply.locator(f"[data-stat={name}]").text_content()
        for name in ("prompt", "cached", "output", "reasoning", "cost", "computed")
    }
    # The cost is what the reply spent, as /spend/ and /keys/ count and show it: the reported cost (else
    # ours). Ours: (1200 − 200) × 0.0000025 + 200 × 0.00000125 + 300 × 0.00001 = 0.00575.
    assert stats == {
        "prompt": "prompt 1200",
        "cached": "cached 200",
        "output": "output 300",
        "reasoning": "reasoning 100",
        "cost": "cost $0.0057",
        "computed": "computed $0.00575",
    }
    assert reply.locator("[data-stat=latency]").text_content().endswith(" ms")
    assert reply.locator("[data-stat=ttft]").text_content().startswith("TTFT ")
    # The total counts what the reply spent: the reported cost, else the computed one (usage.costs).
    assert page.locator("#pg-total").text_content() == "Conversation total: $0.0057 (1 reply)"

    entry = LedgerEntry.objects.get()
    assert (entry.status, entry.requested_model, entry.stream) == ("ok", "openai/gpt-4o", True)
    assert (entry.prompt_tokens, entry.cached_tokens, entry.completion_tokens, entry.reasoning_tokens) == (
        1200,
        200,
        300,
        100,
    )
    assert (entry.computed_cost, entry.reported_cost) == (Decimal("0.00575"), Decimal("0.0057"))
    assert entry.api_key.owner == member and entry.api_key.is_playground
    assert reply.locator(".pg-ledger-link").text_content() == f"ledger row #{entry.pk}"
    # The link names the row by our request id (unique; a generation id is not).
    assert reply.locator(".pg-ledger-link").get_attribute("href") == f"/activity/request/{entry.request_id}/"
    assert reply.locator(".pg-served").text_content() == ""  # the model asked for served it
    assert playground.fake.last.json == {
        "model": "openai/gpt-4o",
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": True,
        "temperature": 0.3,
        "max_tokens": 50,
    }

    # View code: the exact request just sent, with the key as a placeholder (never the page's token).
    page.click("#pg-view-code")
    assert page.locator("#pg-code-python").text_content() == PYTHON_CODE.format(base=playground.api_url)
    curl = page.locator("#pg-code-curl").text_content()
    assert curl.startswith(
        f"curl {playground.api_url}/chat/completions \\\n"
        '  -H "Authorization: Bearer $TOKENLEDGER_API_KEY" \\\n'
    )
    assert "tlpg_" not in curl + page.locator("#pg-code-python").text_content()

    # The ledger link opens that request's own row.
    reply.locator(".pg-ledger-link").click()
    page.wait_for_url(f"{playground.url}/activity/{entry.pk}/")
    assert page.locator("#request-id").text_content() == entry.request_id


def test_stop_mid_stream_cancels_the_request_and_its_ledger_row(playground, page):
    playground.fake.reply(text="one two three four five six seven eight nine ten", chunks=10, chunk_delay=0.4)

    send(page, "Count slowly")
    reply = page.locator(".pg-reply")
    page.wait_for_function(
        "() => (document.querySelector('.pg-reply .pg-text')?.textContent || '').length > 0"
    )
    page.click("#pg-stop")

    reply.locator(".pg-ledger-link").wait_for()
    assert reply.locator(".pg-state").text_content() == "cancelled"
    assert playground.fake.wait_closed_early(1)
    entry = LedgerEntry.objects.get()
    assert entry.status == LedgerEntry.Status.CANCELLED
    assert reply.locator(".pg-text").text_content() != "one two three four five six seven eight nine ten"
    assert page.locator("#pg-send").is_enabled()


def test_compare_mode_streams_two_models_side_by_side_with_the_cost_of_each(playground, page):
    page.check("#pg-compare")
    page.select_option("select[name=model1]", "anthropic/claude-sonnet-4")

    send(page, "Hi both")

    replies = page.locator(".pg-reply")
    replies.nth(0).locator(".pg-ledger-link").wait_for()
    replies.nth(1).locator(".pg-ledger-link").wait_for()
    assert replies.count() == 2
    # The fake's default usage: 12 prompt and 8 completion tokens, reported cost 0.0000066.
    seen = {
        replies.nth(i).get_attribute("data-model"): (
            replies.nth(i).locator(".pg-text").text_content(),
            replies.nth(i).locator("[data-stat=cost]").text_content(),
            replies.nth(i).locator("[data-stat=computed]").text_content(),
        )
        for i in range(2)
    }
    assert seen == {
        "openai/gpt-4o": ("Hello from the fake OpenRouter.", "cost $0.0000066", "computed $0.00011"),
        "anthropic/claude-sonnet-4": (
            "Hello from the fake OpenRouter.",
            "cost $0.0000066",
            "computed $0.000156",
        ),
    }
    assert replies.nth(0).locator("[data-stat=latency]").is_visible()
    assert replies.nth(1).locator("[data-stat=ttft]").is_visible()
    assert page.locator("#pg-total").text_content() == "Conversation total: $0.0000132 (2 replies)"
    assert sorted(LedgerEntry.objects.values_list("requested_model", "computed_cost")) == [
        ("anthropic/claude-sonnet-4", Decimal("0.000156")),
        ("openai/gpt-4o", Decimal("0.00011")),
    ]

    # The conversation lives in the browser: it survives a reload, exports as JSON, and clears.
    page.reload()
    assert page.locator(".pg-reply [data-stat=computed]").all_text_contents() == [
        "computed $0.00011",
        "computed $0.000156",
    ]
    assert page.locator("#pg-compare").is_checked()
    with page.expect_download() as download:
        page.click("#pg-export")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["total_cost"] == "0.0000132"
    assert [(t["user"], [r["model"] for r in t["replies"]]) for t in exported["turns"]] == [
        ("Hi both", ["openai/gpt-4o", "anthropic/claude-sonnet-4"])
    ]
    page.click("#pg-clear")
    assert page.locator(".pg-reply").count() == 0
    assert page.locator("#pg-total").text_content() == "Conversation total: $0.00 (0 replies)"
    page.reload()
    assert page.locator(".pg-reply").count() == 0


def test_an_upstream_error_is_shown_as_a_message_in_the_conversation(playground, page):
    playground.fake.reply(
        status=503, message="No available model provider that meets your routing requirements"
    )

    send(page, "Anyone there?")

    reply = page.locator(".pg-reply[data-status=error]")
    reply.wait_for()
    assert (
        reply.locator(".pg-error")
        .text_content()
        .startswith(
            "Upstream unavailable (503): No available model provider that meets your routing requirements"
        )
    )
    assert reply.locator(".pg-text").text_content() == ""
    assert page.locator("#pg-send").is_enabled()


def test_a_reply_containing_markup_is_shown_as_text(playground, page):
    markup = (
        '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"><b>bold</b>\n\n'
        '<img src=x onerror="window.pwned = 3">\n\n[click](javascript:window.pwned=4)'
    )
    playground.fake.reply(text=markup, chunks=3)

    send(page, "Reply with some HTML")

    reply = page.locator(".pg-reply")
    reply.locator(".pg-ledger-link").wait_for()
    assert reply.locator(".pg-text p").all_text_contents() == [
        '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"><b>bold</b>',
        '<img src=x onerror="window.pwned = 3">',
        "[click](javascript:window.pwned=4)",
    ]
    assert reply.locator(".pg-text script, .pg-text img, .pg-text b, .pg-text a").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_reply_renders_its_markdown_with_a_copy_button_on_each_code_block(playground, page):
    text = "Two ways:\n\n```python\nprint('<hi>')\n```\n\nand **bold** `inline`:\n\n```\nx = 1\n```\n"
    playground.fake.reply(text=text, chunks=5)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=playground.url)

    send(page, "Show me code")

    reply = page.locator(".pg-reply")
    reply.locator(".pg-ledger-link").wait_for()
    blocks = reply.locator(".pg-code-block")
    assert blocks.locator("code").all_text_contents() == ["print('<hi>')", "x = 1"]
    assert blocks.locator(".pg-code-lang").all_text_contents() == ["python", "code"]
    assert blocks.nth(0).locator("code").get_attribute("class") == "language-python"
    assert reply.locator(".pg-text > p").all_text_contents() == ["Two ways:", "and bold inline:"]
    assert reply.locator(".pg-text strong").text_content() == "bold"

    copy = blocks.nth(0).locator("button.pg-copy")
    assert copy.text_content() == "Copy code"
    copy.click()
    page.wait_for_function("() => document.querySelector('.pg-code-block .pg-copy').textContent === 'Copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == "print('<hi>')"
    blocks.nth(1).locator("button.pg-copy").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.pg-code-block .pg-copy')[1].textContent === 'Copied'"
    )
    assert page.evaluate("() => navigator.clipboard.readText()") == "x = 1"
    # Copy on a message: the reply as the model wrote it, the prompt as typed.
    reply.locator(".pg-actions .pg-copy").click()
    page.wait_for_function(
        "() => document.querySelector('.pg-reply .pg-actions .pg-copy').textContent === 'Copied'"
    )
    assert page.evaluate("() => navigator.clipboard.readText()") == text
    page.locator(".pg-user .pg-copy").click()
    page.wait_for_function("() => document.querySelector('.pg-user .pg-copy').textContent === 'Copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == "Show me code"


def test_retry_sends_the_same_request_again_and_the_total_counts_both_replies(playground, page):
    playground.fake.reply(text="First answer", cost="0.001")
    playground.fake.reply(text="Second answer", cost="0.0025")
    page.fill("#pg-temperature", "0.7")
    send(page, "Pick a number")
    reply = page.locator(".pg-reply")
    reply.locator(".pg-ledger-link").wait_for()
    first = LedgerEntry.objects.get()
    assert reply.locator(".pg-text").text_content() == "First answer"
    page.fill("#pg-temperature", "1.5")  # a retry resends the request as it was sent

    reply.locator(".pg-retry").click()

    page.wait_for_function(
        "first => (document.querySelector('.pg-reply .pg-ledger-link')?.textContent || first) !== first",
        arg=f"ledger row #{first.pk}",
    )
    second = LedgerEntry.objects.exclude(pk=first.pk).get()
    assert reply.locator(".pg-ledger-link").text_content() == f"ledger row #{second.pk}"
    assert reply.locator(".pg-text").text_content() == "Second answer"
    assert page.locator(".pg-reply").count() == 1
    chats = [r.json for r in playground.fake.requests if r.path.endswith("/chat/completions")]
    assert (
        chats
        == [
            {
                "model": "openai/gpt-4o",
                "messages": [{"role": "user", "content": "Pick a number"}],
                "stream": True,
                "temperature": 0.7,
            }
        ]
        * 2
    )
    assert (second.reported_cost, second.request_id != first.request_id) == (Decimal("0.0025"), True)
    assert reply.locator("[data-stat=cost]").text_content() == "cost $0.0025"
    # Both replies were paid for: the total counts the replaced one too.
    assert page.locator("#pg-total").text_content() == "Conversation total: $0.0035 (2 replies)"
    page.reload()
    assert page.locator("#pg-total").text_content() == "Conversation total: $0.0035 (2 replies)"


def test_a_spent_budget_is_shown_as_a_message(catalogue, gateway_server, member, page):
    from usage.services.keys import api_key_create

    key, _secret = api_key_create(name="spent", owner=member, budget_usd=Decimal(0))
    log_in(page, gateway_server.url, "member")
    page.goto(f"{gateway_server.url}/playground/")
    page.select_option("#pg-key", str(key.pk))
    page.select_option("select[name=model0]", "openai/gpt-4o")

    send(page, "Anything")

    error = page.locator(".pg-reply[data-status=error] .pg-error")
    error.wait_for()
    assert error.text_content().startswith("Budget spent (402): This key's monthly budget of $")
    assert gateway_server.fake.requests == []


def test_an_ended_session_says_so_instead_of_sending(playground, page):
    page.context.clear_cookies(name="sessionid")

    send(page, "Still there?")

    page.wait_for_function("() => document.getElementById('pg-status').textContent !== ''")
    assert (
        page.locator("#pg-status").text_content()
        == "Your session has ended: reload the page to log in again."
    )
    assert page.locator(".pg-reply").count() == 0
    assert playground.fake.requests == []


def test_an_alias_is_offered_and_its_reply_costs_the_model_that_served(
    catalogue, gateway_server, member, page
):
    from usage.models import Alias, AliasMember

    alias = Alias.objects.create(name="team/smart", strategy="cheapest")
    for position, model_id in enumerate(["anthropic/claude-sonnet-4", "openai/gpt-4o"]):
        AliasMember.objects.create(alias=alias, position=position, model=model_id)
    gateway_server.fake.reply(model="openai/gpt-4o", prompt_tokens=1000, completion_tokens=100, cost="0.0035")
    log_in(page, gateway_server.url, "member")
    page.goto(f"{gateway_server.url}/playground/")

    page.select_option("select[name=model0]", "team/smart")
    info = page.locator("#pg-model-info").text_content()
    send(page, "Hi")

    reply = page.locator(".pg-reply")
    reply.locator(".pg-ledger-link").wait_for()
    assert info == "alias, cheapest: anthropic/claude-sonnet-4, openai/gpt-4o"
    assert reply.locator(".pg-served").text_content() == "served by openai/gpt-4o"
    # 1000 × 0.0000025 + 100 × 0.00001: gpt-4o's prices, the cheaper member, which served
    assert reply.locator("[data-stat=cost]").text_content() == "cost $0.0035"
    sent = gateway_server.fake.last.json
    assert (sent["model"], sent["models"]) == (
        "openai/gpt-4o",
        ["openai/gpt-4o", "anthropic/claude-sonnet-4"],
    )
    entry = LedgerEntry.objects.get()
    assert (entry.requested_model, entry.served_model, entry.meta["strategy"]) == (
        "team/smart",
        "openai/gpt-4o",
        "cheapest",
    )


def test_a_request_shows_the_same_dollar_figure_in_the_playground_on_spend_and_on_keys(playground, page):
    playground.fake.reply(prompt_tokens=10, completion_tokens=1, cost="0.0000186")

    send(page, "How much?")

    reply = page.locator(".pg-reply")
    reply.locator(".pg-ledger-link").wait_for()
    in_playground = reply.locator("[data-stat=cost]").text_content()
    assert in_playground == "cost $0.0000186"
    assert page.locator("#pg-total").text_content() == "Conversation total: $0.0000186 (1 reply)"

    page.goto(f"{playground.url}/spend/?range=today")
    assert page.locator("#total-cost").inner_text() == "$0.0000186"
    page.goto(f"{playground.url}/keys/")
    key = LedgerEntry.objects.get().api_key
    spent = page.locator(f"#key-{key.id} td.num").nth(1).inner_text()  # budget, then spent this period
    assert spent == "$0.0000186"


def test_after_a_fallback_a_reply_shows_the_model_that_served_it(
    catalogue, gateway_server, member, page, monkeypatch
):
    from tests.fakes.openrouter import FakeOpenRouter, Reply, serve
    from usage.models import Alias, AliasMember, Upstream

    # A second upstream, as a vLLM server: it names its model without our "local/" prefix.
    vllm = FakeOpenRouter(default=Reply(text="Hello from vLLM.", provider="", cost=None, chunks=3))
    server = serve(vllm)
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret-123")
    Upstream.objects.create(
        name="local", base_url=vllm.url, api_key_env="VLLM_API_KEY", model_prefix="local/", enabled=True
    )
    alias = Alias.objects.create(name="team/fast", strategy="ordered")
    for position, model_id in enumerate(["openai/gpt-4o", "local/qwen3-8b"]):
        AliasMember.objects.create(alias=alias, position=position, model=model_id)
    gateway_server.fake.reply(status=502)  # the first member fails
    log_in(page, gateway_server.url, "member")
    page.goto(f"{gateway_server.url}/playground/")
    page.select_option("select[name=model0]", "team/fast")

    try:
        send(page, "Hi")
        reply = page.locator(".pg-reply")
        reply.locator(".pg-ledger-link").wait_for()
    finally:
        server.stop()

    assert reply.locator(".pg-text").text_content() == "Hello from vLLM."
    assert reply.get_attribute("data-model") == "team/fast"
    # Our id for the model that served (the ledger row's), not the upstream's own name for it.
    assert reply.locator(".pg-served").text_content() == "served by local/qwen3-8b"
    assert reply.locator(".pg-served").is_visible()
    entry = LedgerEntry.objects.get()
    assert (entry.requested_model, entry.served_model) == ("team/fast", "local/qwen3-8b")
    assert [(a["upstream"], a["status"]) for a in entry.meta["attempts"]] == [
        ("openrouter", 502),
        ("local", 200),
    ]
