"""Captured bodies through the real gateway over HTTP against the fake OpenRouter (docs/gateway.md,
"Capture"): kept for keys that opt in, streams assembled with their final usage, capped, redacted; nothing
for other keys."""

import httpx
import pytest

from tests.fakes.apis import message
from tests.fakes.openrouter import CREATED, Reply, usage_of
from tests.usage.gateway_data import make_catalogue
from usage.models import CapturedExchange

MODEL = "openai/gpt-4o-mini"
BODY = {
    "model": MODEL,
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count to four."}],
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


@pytest.fixture
def capturing(catalogue, make_api_key, member):
    return make_api_key(owner=member, name="capturing key", capture_bodies=True)


def post(gateway_server, secret: str, body: dict, path: str = "/chat/completions") -> httpx.Response:
    response = httpx.post(
        f"{gateway_server.api_url}{path}", json=body, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200, response.text
    return response


def captured(gateway_server, count: int) -> dict[int, CapturedExchange]:
    """The captures once the gateway wrote `count` rows and its writer's process took everything queued."""
    from usage.gateway.app import gateway

    rows = gateway_server.ledger(count)
    assert gateway.writer.flush()
    return {row.id: row.captured for row in rows if hasattr(row, "captured")}


def test_an_opted_in_keys_reply_and_stream_are_kept_with_their_text_and_usage(gateway_server, capturing):
    for _ in range(2):  # (a reply is queued per request)
        gateway_server.fake.reply(text="One two three four.", chunks=4)
    plain = post(gateway_server, capturing, BODY)
    post(gateway_server, capturing, {**BODY, "stream": True})

    assert "x-tokenledger-cache" not in plain.headers  # capture is not the response cache
    first, second = gateway_server.ledger(2)
    exchanges = captured(gateway_server, 2)
    one, two = exchanges[first.id], exchanges[second.id]
    assert (one.request, one.request_text, one.reply, one.reply_text, one.truncated) == (
        BODY,
        "",
        plain.json(),  # as the client got it
        "",
        False,
    )
    assert one.created_at == first.created_at
    assert (two.request, two.reply_text, two.truncated) == ({**BODY, "stream": True}, "", False)
    assert two.reply == {
        "id": "gen-fake-2",
        "provider": "OpenAI",
        "model": MODEL,
        "created": CREATED,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "One two three four."},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_of(Reply()),
    }


def test_a_streamed_tool_call_is_assembled(gateway_server, capturing):
    gateway_server.fake.reply(tool_calls=[CALL])
    post(gateway_server, capturing, {**BODY, "stream": True})

    (row,) = gateway_server.ledger(1)
    reply = captured(gateway_server, 1)[row.id].reply
    assert reply["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "", "tool_calls": [CALL]},
            "finish_reason": "tool_calls",
        }
    ]


def test_a_messages_stream_is_kept_as_the_message_it_adds_up_to(gateway_server, capturing):
    model = "anthropic/claude-sonnet-4"
    gateway_server.fake.reply(text="Cold and clear.", chunks=3, cached_tokens=2)
    body = {
        "model": model,
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "Oslo?"}],
    }
    post(gateway_server, capturing, body, "/messages")

    (row,) = gateway_server.ledger(1)
    exchange = captured(gateway_server, 1)[row.id]
    assert exchange.request == body
    assert exchange.reply == message(Reply(text="Cold and clear.", cached_tokens=2), row.generation_id, model)


def test_nothing_is_kept_for_a_key_that_has_not_opted_in(gateway_server, capturing, make_api_key, member):
    other = make_api_key(owner=member, name="plain key")
    post(gateway_server, other, BODY)
    post(gateway_server, other, {**BODY, "stream": True})
    post(gateway_server, capturing, BODY)

    rows = gateway_server.ledger(3)
    exchanges = captured(gateway_server, 3)
    assert [row.api_key.name for row in rows] == ["plain key", "plain key", "capturing key"]
    assert list(exchanges) == [rows[2].id]
    assert CapturedExchange.objects.count() == 1


def test_bodies_are_cut_to_the_cap_and_say_so(settings, catalogue, make_api_key, member, request):
    settings.CAPTURE_MAX_BYTES = 2048  # before the gateway starts: it and its writer's process read it then
    gateway_server = request.getfixturevalue("gateway_server")
    secret = make_api_key(owner=member, capture_bodies=True)
    gateway_server.fake.reply(text="y" * 5000, chunks=4)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 5000}], "stream": True}
    post(gateway_server, secret, body)

    (row,) = gateway_server.ledger(1)
    exchange = captured(gateway_server, 1)[row.id]
    assert exchange.truncated is True
    assert exchange.request == {**body, "messages": [{"role": "user", "content": "x" * 1024 + "…"}]}
    assert exchange.reply["choices"][0]["message"]["content"] == "y" * 1024 + "…"
    assert exchange.reply["usage"] == usage_of(Reply())


def test_a_stream_past_what_the_gateway_keeps_still_has_its_final_usage(
    settings, catalogue, make_api_key, request
):
    settings.CAPTURE_MAX_BYTES = 1024  # the gateway keeps 16 KiB of the stream
    gateway_server = request.getfixturevalue("gateway_server")
    secret = make_api_key(capture_bodies=True)
    gateway_server.fake.reply(text="z" * 40_000, chunks=4, completion_tokens=10_000)
    post(gateway_server, secret, {**BODY, "stream": True})

    (row,) = gateway_server.ledger(1)
    exchange = captured(gateway_server, 1)[row.id]
    assert exchange.truncated is True
    content = exchange.reply["choices"][0]["message"]["content"]
    assert set(content[:-1]) == {"z"} and content.endswith("…")
    assert exchange.reply["usage"] == usage_of(Reply(completion_tokens=10_000))


def test_credentials_in_the_prompt_and_the_reply_are_redacted(gateway_server, capturing):
    gateway_server.fake.reply(text="Use sk-proj-AAAAAAAAAAAAAAAAAAAA for that.")
    prompt = f"My key is {capturing}; send Authorization: Bearer sk-or-v1-0123456789abcdef0123 upstream."
    post(gateway_server, capturing, {"model": MODEL, "messages": [{"role": "user", "content": prompt}]})

    (row,) = gateway_server.ledger(1)
    exchange = captured(gateway_server, 1)[row.id]
    assert exchange.request["messages"] == [
        {
            "role": "user",
            "content": "My key is tl-[REDACTED]; send Authorization: Bearer [REDACTED] upstream.",
        }
    ]
    assert exchange.reply["choices"][0]["message"]["content"] == "Use sk-[REDACTED] for that."


def test_a_key_that_caches_and_captures_does_both(gateway_server, catalogue, make_api_key):
    secret = make_api_key(name="both", capture_bodies=True, cache_responses=True)
    body = {**BODY, "temperature": 0, "stream": True}
    miss = post(gateway_server, secret, body)
    gateway_server.settled()  # the cache filled
    hit = post(gateway_server, secret, body)

    assert (miss.headers["x-tokenledger-cache"], hit.headers["x-tokenledger-cache"]) == ("miss", "hit")
    assert hit.content == miss.content
    first, second = gateway_server.ledger(2)
    exchanges = captured(gateway_server, 2)
    assert (first.status, second.status) == ("ok", "cached")
    assert exchanges[first.id].reply["choices"][0]["message"]["content"] == "Hello from the fake OpenRouter."
    assert (exchanges[second.id].request, exchanges[second.id].reply) == (
        body,
        None,
    )  # the hit: no reply of its own
