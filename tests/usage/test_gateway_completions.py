"""Completions through the gateway with the openai SDK: replies relayed as sent, one exact ledger row each."""

from decimal import Decimal

import httpx
import openai
import pytest

from tests.usage.gateway_data import make_catalogue

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


@pytest.fixture
def secret(catalogue, make_api_key, member):
    return make_api_key(owner=member, name="member key")


@pytest.fixture
def client(gateway_server, secret):
    return openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)


def test_a_completion_is_relayed_and_logged_with_both_costs(gateway_server, client, catalogue, member):
    reply = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, user="alice")

    assert reply.choices[0].message.content == "Hello from the fake OpenRouter."
    [row] = gateway_server.ledger(1)
    assert (row.api_key.owner, row.requested_model, row.served_model, row.provider) == (
        member,
        "openai/gpt-4o-mini",
        "openai/gpt-4o-mini",
        "OpenAI",
    )
    assert (row.generation_id, row.stream, row.http_status, row.status) == ("gen-fake-1", False, 200, "ok")
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.reasoning_tokens) == (
        12,
        8,
        0,
        0,
    )
    assert row.reported_cost == Decimal("0.0000066")
    assert row.computed_cost == Decimal("0.0000066")  # 12 × 0.00000015 + 8 × 0.0000006
    assert row.price_version == catalogue["openai/gpt-4o-mini"]
    assert row.catalog_model.model_id == "openai/gpt-4o-mini"
    assert row.user_tag == "alice"
    row.api_key.refresh_from_db()
    assert row.api_key.last_used_at == row.created_at


def test_the_body_goes_upstream_unchanged_with_our_key_and_the_clients_title(gateway_server, secret):
    body = (
        b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],'
        b' "provider": {"order": ["OpenAI"]}, "models": ["anthropic/claude-sonnet-4"], "logprobs": true}'
    )
    headers = {"Authorization": f"Bearer {secret}", "X-Title": "My app", "Content-Type": "application/json"}
    response = httpx.post(f"{gateway_server.api_url}/chat/completions", content=body, headers=headers)

    assert response.status_code == 200
    assert response.headers["x-generation-id"] == "gen-fake-1"
    received = gateway_server.fake.last
    assert received.body == body
    assert received.headers["authorization"] == "Bearer sk-or-test-upstream"
    assert received.headers["x-title"] == "My app"
    assert received.headers["http-referer"] == "https://github.com/tokenledger/tokenledger"
    gateway_server.ledger(1)


def test_a_stream_is_relayed_event_by_event_and_logged_from_its_usage_chunk(gateway_server, secret):
    gateway_server.fake.reply(
        prompt_tokens=1000,
        cached_tokens=600,
        cache_write_tokens=200,
        completion_tokens=100,
        reasoning_tokens=40,
        web_search_requests=2,
        cost="0.02303",
        text="<script>alert(1)</script>",
        chunks=5,
    )
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"model": "anthropic/claude-sonnet-4", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", f"{gateway_server.api_url}/chat/completions", json=body, headers=headers
    ) as resp:
        raw = b"".join(resp.iter_raw())
        assert resp.headers["x-generation-id"] == "gen-fake-1"

    assert raw.startswith(b": OPENROUTER PROCESSING\n\n")
    assert raw.endswith(b"data: [DONE]\n\n")
    assert raw.count(b"data: ") == 9  # role, 5 pieces, finish, usage, [DONE]
    [row] = gateway_server.ledger(1)
    assert (row.stream, row.status, row.http_status) == (True, "ok", 200)
    assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens) == (1000, 600, 200)
    assert (row.completion_tokens, row.reasoning_tokens, row.web_search_requests) == (100, 40, 2)
    # 200 × 0.000003 + 600 × 0.0000003 + 200 × 0.00000375 + 100 × 0.000015 + 2 × 0.01
    assert row.computed_cost == Decimal("0.02303")
    assert row.reported_cost == Decimal("0.02303")
    assert row.ttft_ms is not None


def test_the_sdk_reads_a_stream_with_tool_calls(gateway_server, client):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
    }
    gateway_server.fake.reply(tool_calls=[call])
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]

    chunks = list(
        client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=MESSAGES, tools=tools, stream=True
        )
    )

    calls = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert calls[0][0].function.name == "weather"
    assert chunks[-1].usage.total_tokens == 20
    [row] = gateway_server.ledger(1)
    assert gateway_server.fake.last.json["tools"] == tools
    assert (row.status, row.completion_tokens, row.computed_cost) == ("ok", 8, Decimal("0.0000066"))


def test_a_stream_without_include_usage_is_still_costed(gateway_server, client):
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="deepseek/deepseek-r1", messages=MESSAGES, stream=True)
        if c.choices
    )

    assert text == "Hello from the fake OpenRouter."
    assert "stream_options" not in gateway_server.fake.last.json
    [row] = gateway_server.ledger(1)
    assert row.computed_cost == Decimal("0.0010208")  # 12 × 0.0000004 + 8 × 0.000002 + 0.001 per request


def test_the_router_is_costed_at_the_model_that_served(gateway_server, client, catalogue):
    gateway_server.fake.reply(model="openai/gpt-4o-mini")
    client.chat.completions.create(model="openrouter/auto", messages=MESSAGES)

    [row] = gateway_server.ledger(1)
    assert (row.requested_model, row.served_model) == ("openrouter/auto", "openai/gpt-4o-mini")
    assert row.price_version == catalogue["openai/gpt-4o-mini"]
    assert row.computed_cost == Decimal("0.0000066")


def test_a_variable_price_leaves_the_computed_cost_empty(gateway_server, client):
    client.chat.completions.create(model="openrouter/auto", messages=MESSAGES)

    [row] = gateway_server.ledger(1)
    assert (row.reported_cost, row.computed_cost) == (Decimal("0.0000066"), None)


def test_a_legacy_completion_is_relayed(gateway_server, client):
    reply = client.completions.create(model="openai/gpt-4o-mini:nitro", prompt="Once upon")

    assert reply.choices[0].text == "Hello from the fake OpenRouter."
    assert gateway_server.fake.last.path == "/api/v1/completions"
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.requested_model, row.computed_cost) == (
        "completions",
        "openai/gpt-4o-mini:nitro",
        Decimal("0.0000066"),
    )


def test_an_error_mid_stream_ends_the_row_as_error(gateway_server, secret):
    gateway_server.fake.reply(stream_error="Provider disconnected")
    headers = {"X-API-Key": secret}
    body = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", f"{gateway_server.api_url}/chat/completions", json=body, headers=headers
    ) as resp:
        raw = b"".join(resp.iter_raw())

    assert b"Provider disconnected" in raw
    [row] = gateway_server.ledger(1)
    assert (row.status, row.error_code, row.error_message) == (
        "error",
        "server_error",
        "Provider disconnected",
    )


def test_a_client_that_leaves_mid_stream_closes_the_upstream_and_is_logged_cancelled(gateway_server, secret):
    gateway_server.fake.reply(chunks=20, chunk_delay=0.2)
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", f"{gateway_server.api_url}/chat/completions", json=body, headers=headers
    ) as resp:
        seen = 0
        for line in resp.iter_lines():
            seen += '"content"' in line
            if seen == 3:
                break

    assert gateway_server.fake.wait_closed_early(1)
    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, row.error_code) == ("cancelled", 499, "client_closed")
    # An estimate: "hi" is 1 token; the two 2-character pieces relayed before the client left, 1 token.
    assert (row.prompt_tokens, row.completion_tokens, row.cost_state) == (1, 1, "estimated")
    assert row.computed_cost == Decimal("0.00000015") + Decimal("0.0000006")


def test_nul_characters_in_the_user_tag_do_not_lose_the_row(gateway_server, client):
    client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, user="a\x00b")

    [row] = gateway_server.ledger(1)
    assert row.user_tag == "a\ufffdb"
