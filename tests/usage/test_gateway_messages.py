"""POST /api/v1/messages (Anthropic's Messages API) through the gateway with the official anthropic SDK:
replies relayed as sent, one exact ledger row each, our refusals in Anthropic's error shape."""

from decimal import Decimal

import anthropic
import httpx
import pytest

from catalog.models import CatalogModel, PriceVersion
from tests.usage.gateway_data import make_catalogue

MODEL = "anthropic/claude-sonnet-4"
MESSAGES = [{"role": "user", "content": "What is the weather in Oslo?"}]
TOOLS = [{"name": "weather", "description": "The weather", "input_schema": {"type": "object"}}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}


@pytest.fixture
def catalogue(transactional_db):
    versions = make_catalogue()
    # One-hour cache writes at their own price; Anthropic's own id of the model in canonical_slug.
    PriceVersion.objects.filter(pk=versions[MODEL].pk).update(input_cache_write_1h=Decimal("0.000006"))
    CatalogModel.objects.filter(model_id=MODEL).update(canonical_slug="anthropic/claude-sonnet-4-20250514")
    return versions


@pytest.fixture
def secret(catalogue, make_api_key, member):
    return make_api_key(owner=member, name="claude key")


@pytest.fixture
def client(gateway_server, secret):
    return anthropic.Anthropic(base_url=f"{gateway_server.url}/api", api_key=secret, max_retries=0)


def test_messages_create_with_a_tool_call_is_relayed_and_logged(gateway_server, client, catalogue):
    gateway_server.fake.reply(tool_calls=[CALL], prompt_tokens=400, completion_tokens=30, cost="0.00165")

    message = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, tools=TOOLS)

    [block] = message.content
    assert (block.type, block.name, block.input) == ("tool_use", "weather", {"city": "Oslo"})
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (400, 30)
    received = gateway_server.fake.last
    assert received.path == "/api/v1/messages"
    assert received.json["tools"] == TOOLS
    assert received.headers["anthropic-version"] == client.default_headers["anthropic-version"]
    assert received.headers["authorization"] == "Bearer sk-or-test-upstream"
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.requested_model, row.served_model, row.generation_id) == (
        "messages",
        MODEL,
        MODEL,
        "gen-fake-1",
    )
    assert (row.status, row.http_status, row.stream, row.finish_reason) == ("ok", 200, False, "tool_use")
    assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens, row.completion_tokens) == (
        400,
        0,
        0,
        30,
    )
    assert row.reported_cost == Decimal("0.00165")
    assert row.computed_cost == Decimal("0.00165")  # 400 × 0.000003 + 30 × 0.000015
    assert row.catalog_model.model_id == MODEL
    assert row.extra_usage == {"service_tier": "standard"}


def test_messages_stream_with_cache_reads_and_both_cache_writes(gateway_server, secret, catalogue):
    gateway_server.fake.reply(
        prompt_tokens=1000,
        cached_tokens=600,
        cache_write_tokens=300,
        cache_write_1h_tokens=100,
        completion_tokens=50,
        cost="0.00258",
        text="Sunny, 21 degrees.",
        chunks=3,
    )
    client = anthropic.Anthropic(base_url=f"{gateway_server.url}/api", auth_token=secret, max_retries=0)
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]

    with client.messages.stream(model=MODEL, max_tokens=100, system=system, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Sunny, 21 degrees."
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (100, 600)
    assert final.usage.cache_creation.ephemeral_1h_input_tokens == 100
    assert gateway_server.fake.last.json["system"] == system
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.stream, row.status, row.http_status) == ("messages", True, "ok", 200)
    assert row.finish_reason == "end_turn"  # message_delta's stop_reason
    assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens, row.cache_write_1h_tokens) == (
        1000,
        600,
        300,
        100,
    )
    assert row.completion_tokens == 50
    # 100 × 0.000003 + 600 × 0.0000003 + 200 × 0.00000375 + 100 × 0.000006 (1 h) + 50 × 0.000015
    assert row.computed_cost == Decimal("0.00258")
    assert row.reported_cost == Decimal("0.00258")
    assert row.ttft_ms is not None
    assert row.extra_usage == {"service_tier": "standard"}


def test_a_budget_too_short_is_a_402_in_anthropics_shape(gateway_server, catalogue, make_api_key):
    secret = make_api_key(budget_usd=Decimal("0.0001"))
    client = anthropic.Anthropic(base_url=f"{gateway_server.url}/api", api_key=secret, max_retries=0)

    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model=MODEL, max_tokens=1000, messages=MESSAGES)

    assert caught.value.status_code == 402
    body = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "billing_error"
    assert body["error"]["message"].startswith("This request requires more credits, or fewer max_tokens.")
    assert gateway_server.fake.requests == []
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.status, row.http_status, row.error_code) == (
        "messages",
        "rejected",
        402,
        "budget_exceeded",
    )
    assert (row.requested_model, row.computed_cost, row.prompt_tokens) == (MODEL, Decimal(0), 0)


def post(gateway_server, body, headers, path="/messages"):
    return httpx.post(f"{gateway_server.api_url}{path}", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind"),
    [
        ({}, {"model": MODEL, "max_tokens": 10, "messages": MESSAGES}, 401, "authentication_error"),
        (
            {"x-api-key": "tl-nope"},
            {"model": MODEL, "max_tokens": 10, "messages": MESSAGES},
            401,
            "authentication_error",
        ),
        (None, {"model": MODEL, "max_tokens": 10}, 400, "invalid_request_error"),
        (None, {"model": MODEL, "max_tokens": 0, "messages": MESSAGES}, 400, "invalid_request_error"),
        (
            None,
            {"model": "openai/gpt-4o-mini", "max_tokens": 10, "messages": MESSAGES},
            403,
            "permission_error",
        ),
    ],
)
def test_our_refusals_are_in_anthropics_error_shape(
    gateway_server, catalogue, make_api_key, headers, body, status, kind
):
    secret = make_api_key(allowed_models=["anthropic/*"])
    response = post(gateway_server, body, {"x-api-key": secret} if headers is None else headers)

    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == kind
    assert set(response.json()["error"]) == {"type", "message", "code"}
    assert gateway_server.fake.requests == []


def test_rate_limits_are_429_rate_limit_error_with_retry_after(gateway_server, catalogue, make_api_key):
    secret = make_api_key(rpm_limit=1)
    body = {"model": MODEL, "max_tokens": 10, "messages": MESSAGES}
    assert post(gateway_server, body, {"x-api-key": secret}).status_code == 200

    response = post(gateway_server, body, {"x-api-key": secret})

    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert int(response.headers["retry-after"]) >= 1
    rows = gateway_server.ledger(2)
    assert [(r.endpoint, r.status, r.http_status) for r in rows] == [
        ("messages", "ok", 200),
        ("messages", "rejected", 429),
    ]


def test_the_beta_query_and_anthropic_headers_are_passed_on(gateway_server, secret):
    headers = {"Authorization": f"Bearer {secret}", "anthropic-version": "2023-06-01"}
    headers["anthropic-beta"] = "prompt-caching-2024-07-31,interleaved-thinking-2025-05-14"
    body = {
        "model": MODEL,
        "max_tokens": 10,
        "messages": MESSAGES,
        "thinking": {"type": "enabled", "budget_tokens": 5},
    }
    response = httpx.post(f"{gateway_server.api_url}/messages?beta=true", json=body, headers=headers)

    assert response.status_code == 200
    received = gateway_server.fake.last
    assert received.query == "beta=true"
    assert received.headers["anthropic-beta"] == headers["anthropic-beta"]
    assert received.json == body


def test_an_anthropic_model_id_naming_one_catalogue_model_is_logged_under_the_catalogue_id(
    gateway_server, client
):
    message = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=10, messages=MESSAGES)

    assert message.model == MODEL
    assert gateway_server.fake.last.json["model"] == MODEL
    [row] = gateway_server.ledger(1)
    assert (row.requested_model, row.served_model, row.meta) == (
        MODEL,
        MODEL,
        {"native_model": "claude-sonnet-4-20250514"},
    )


def test_an_unknown_or_ambiguous_anthropic_model_id_is_a_400_naming_it(gateway_server, secret, catalogue):
    CatalogModel.objects.filter(model_id="deepseek/deepseek-r1").update(hugging_face_id="org/twin-1")
    CatalogModel.objects.filter(model_id="openai/gpt-4o-mini").update(hugging_face_id="other/twin-1")
    body = {"max_tokens": 10, "messages": MESSAGES}

    unknown = post(gateway_server, {**body, "model": "claude-nope-1"}, {"x-api-key": secret})
    ambiguous = post(gateway_server, {**body, "model": "twin-1"}, {"x-api-key": secret})

    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "type": "invalid_request_error",
        "message": "claude-nope-1 is not a model in the catalogue",
        "code": "unknown_model",
    }
    assert ambiguous.status_code == 400
    assert ambiguous.json()["error"]["message"] == "twin-1 names more than one model in the catalogue"
    rows = gateway_server.ledger(2)
    assert [(r.requested_model, r.status, r.error_code) for r in rows] == [
        ("claude-nope-1", "rejected", "unknown_model"),
        ("twin-1", "rejected", "ambiguous_model"),
    ]
    assert gateway_server.fake.requests == []


def test_an_upstream_error_is_relayed_in_anthropics_shape(gateway_server, client):
    gateway_server.fake.reply(status=529, message="Overloaded")

    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)

    assert caught.value.status_code == 529
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, row.error_code, row.error_message) == (
        "error",
        529,
        "overloaded_error",
        "Overloaded",
    )


def test_a_deterministic_messages_stream_is_cached_and_replayed_as_a_stream(
    gateway_server, catalogue, make_api_key
):
    secret = make_api_key(cache_responses=True)
    client = anthropic.Anthropic(base_url=f"{gateway_server.url}/api", api_key=secret, max_retries=0)
    gateway_server.fake.reply(text="Cached words.", chunks=3, cost="0.000156")
    # (this SDK version's typed arguments have no temperature: sent as an extra body field)
    body = {"model": MODEL, "max_tokens": 10, "messages": MESSAGES, "extra_body": {"temperature": 0}}

    with client.messages.stream(**body) as stream:
        first = "".join(stream.text_stream)
    gateway_server.settled()
    with client.messages.stream(**body) as stream:
        second = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert first == second == "Cached words."
    assert final.usage.output_tokens == 8
    assert len(gateway_server.fake.requests) == 1
    rows = gateway_server.ledger(2)
    assert [(r.endpoint, r.status, r.stream, r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("messages", "ok", True, 12, 8),
        ("messages", "cached", True, 12, 8),
    ]
    assert Decimal(rows[1].meta["saved_cost"]) == Decimal("0.000156")
