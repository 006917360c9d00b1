"""GET /api/v1/generation?id= through the gateway: a key's own request, by OpenRouter's generation id or by
our request id (the `x-tokenledger-request-id` header of every answer), in OpenRouter's shape; never a
response cache hit's copy for a generation id; 404 for another key's request, 400 without an id, 401
without a valid key."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from tests.usage.gateway_data import make_catalogue
from usage.models import ApiKey, LedgerEntry

D = Decimal
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def complete(gateway_server, secret: str, body: dict = BODY, **headers) -> httpx.Response:
    return httpx.post(
        f"{gateway_server.api_url}/chat/completions", json=body, headers={**auth(secret), **headers}
    )


def generation(gateway_server, secret: str | None, query: str) -> httpx.Response:
    headers = auth(secret) if secret else {}
    return httpx.get(f"{gateway_server.api_url}/generation{query}", headers=headers)


def expected_data(row: LedgerEntry, **changes) -> dict:
    """The answer for a row, with the timings the row holds (they vary from run to run)."""
    first = row.ttft_ms if row.ttft_ms is not None else row.upstream_latency_ms
    data = {
        "id": row.generation_id or row.request_id,
        "request_id": row.request_id,
        "upstream_id": None,
        "total_cost": 0.0000066,
        "cache_discount": None,
        "upstream_inference_cost": None,
        "created_at": row.created_at.isoformat(),
        "model": "openai/gpt-4o-mini",
        "app_id": None,
        "streamed": False,
        "cancelled": False,
        "provider_name": "OpenAI",
        "latency": first,
        "moderation_latency": None,
        "generation_time": row.latency_ms - first,
        "finish_reason": "stop",
        "native_finish_reason": None,
        "tokens_prompt": 12,
        "tokens_completion": 8,
        "native_tokens_prompt": 12,
        "native_tokens_completion": 8,
        "native_tokens_completion_images": 0,
        "native_tokens_reasoning": 0,
        "native_tokens_cached": 0,
        "num_media_prompt": None,
        "num_input_audio_prompt": None,
        "num_media_completion": None,
        "num_search_results": 0,
        "origin": "",
        "usage": 0.0000066,
        "is_byok": False,
        "external_user": None,
        "api_type": "completions",
        "tokenledger": {
            "request_id": row.request_id,
            "endpoint": "chat/completions",
            "requested_model": "openai/gpt-4o-mini",
            "status": "ok",
            "http_status": 200,
            "error_code": "",
            "error_message": "",
            "cost_estimated": False,
            "cost_state": "",
            "reported_cost": 0.0000066,
            "computed_cost": 0.0000066,
            "cache_write_tokens": 0,
            "cache_write_1h_tokens": 0,
            "latency_ms": row.latency_ms,
            "ttft_ms": row.ttft_ms,
            "upstream_latency_ms": row.upstream_latency_ms,
        },
    }
    for name, value in changes.items():
        if name in data["tokenledger"] and name not in data:
            data["tokenledger"][name] = value
        else:
            data[name] = value
    return data


def test_a_request_is_found_by_its_generation_id_and_by_our_request_id(
    gateway_server, catalogue, make_api_key
):
    secret = make_api_key()
    gateway_server.fake.reply(cached_tokens=4, reasoning_tokens=2)

    reply = complete(gateway_server, secret)
    by_generation = generation(gateway_server, secret, "?id=gen-fake-1")
    request_id = reply.headers["x-tokenledger-request-id"]
    by_request = generation(gateway_server, secret, f"?id={request_id}")

    (row,) = gateway_server.ledger(1)
    assert (reply.headers["x-generation-id"], request_id) == ("gen-fake-1", row.request_id)
    assert len(request_id) == 32
    assert by_generation.status_code == by_request.status_code == 200
    assert by_generation.content == by_request.content
    # 12 prompt tokens (4 cached) and 8 completion (2 reasoning) at gpt-4o-mini's prices: 8 × 0.15e-6 +
    # 4 × 0.075e-6 + 8 × 0.6e-6 = 0.0000063 computed; OpenRouter's 0.0000066 is what was spent.
    assert by_generation.json() == {
        "data": expected_data(
            row,
            id="gen-fake-1",
            native_tokens_cached=4,
            native_tokens_reasoning=2,
            computed_cost=0.0000063,
        )
    }
    assert b'"total_cost":0.0000066,' in by_generation.content  # the exact decimal, not a float's digits
    assert b'"computed_cost":0.0000063,' in by_generation.content


def test_a_stream_is_found_by_our_request_id(gateway_server, catalogue, make_api_key):
    secret = make_api_key()

    with httpx.stream(
        "POST",
        f"{gateway_server.api_url}/chat/completions",
        json={**BODY, "stream": True, "user": "alice"},
        headers=auth(secret),
    ) as reply:
        reply.read()
    found = generation(gateway_server, secret, f"?id={reply.headers['x-tokenledger-request-id']}")

    (row,) = gateway_server.ledger(1)
    assert (row.ttft_ms is not None, row.finish_reason) == (True, "stop")
    assert found.json()["data"] == expected_data(row, streamed=True, external_user="alice")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_finish_reason_is_the_replys(gateway_server, catalogue, make_api_key, stream):
    secret = make_api_key()
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    gateway_server.fake.reply(tool_calls=[call])
    gateway_server.fake.reply(finish_reason="length")

    for _ in range(2):
        with httpx.stream(
            "POST",
            f"{gateway_server.api_url}/chat/completions",
            json={**BODY, "stream": stream},
            headers=auth(secret),
        ) as reply:
            reply.read()
    reasons = [
        generation(gateway_server, secret, f"?id=gen-fake-{n}").json()["data"]["finish_reason"]
        for n in (1, 2)
    ]

    assert reasons == ["tool_calls", "length"]
    assert [row.finish_reason for row in gateway_server.ledger(2)] == ["tool_calls", "length"]


def test_a_generation_id_gives_the_request_served_never_a_cache_hits_copy(
    gateway_server, catalogue, make_api_key
):
    secret = make_api_key(cache_responses=True)
    deterministic = {**BODY, "temperature": 0}

    miss = complete(gateway_server, secret, deterministic)
    gateway_server.settled()
    hit = complete(gateway_server, secret, deterministic)
    by_generation = generation(gateway_server, secret, "?id=gen-fake-1")
    by_hit_id = generation(gateway_server, secret, f"?id={hit.headers['x-tokenledger-request-id']}")

    original, copy = gateway_server.ledger(2)
    assert (miss.headers["x-tokenledger-cache"], hit.headers["x-tokenledger-cache"]) == ("miss", "hit")
    assert (original.generation_id, copy.generation_id, copy.status) == ("gen-fake-1", "gen-fake-1", "cached")
    assert hit.headers["x-tokenledger-request-id"] == copy.request_id
    assert by_generation.json()["data"] == expected_data(original, id="gen-fake-1")
    cached = by_hit_id.json()["data"]
    assert (cached["id"], cached["request_id"], cached["total_cost"]) == ("gen-fake-1", copy.request_id, 0)
    assert cached["tokenledger"]["status"] == "cached"


def test_another_keys_request_is_not_found_as_if_unknown(gateway_server, catalogue, make_api_key, member):
    mine, theirs = make_api_key(owner=member, name="mine"), make_api_key(owner=member, name="theirs")
    cached_theirs = make_api_key(name="cached", cache_responses=True)

    reply = complete(gateway_server, mine, {**BODY, "temperature": 0}, **{"X-Tokenledger-Cache": "on"})
    gateway_server.settled()
    complete(gateway_server, cached_theirs, {**BODY, "temperature": 0})  # a hit: a copy of gen-fake-1
    gateway_server.ledger(2)
    answers = [
        generation(gateway_server, theirs, "?id=gen-fake-1"),  # the same owner's other key
        generation(gateway_server, theirs, f"?id={reply.headers['x-tokenledger-request-id']}"),
        generation(gateway_server, cached_theirs, "?id=gen-fake-1"),  # its own row is only the cache's copy
        generation(gateway_server, theirs, "?id=gen-never-served"),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404, 404]
    assert answers[0].json() == {
        "error": {
            "code": 404,
            "message": "Generation gen-fake-1 not found",
            "metadata": {},
            "type": "not_found",
        }
    }
    assert answers[3].json()["error"]["message"] == "Generation gen-never-served not found"


@pytest.mark.parametrize("query", ["", "?id=", "?id=%20", "?other=gen-fake-1"])
def test_without_an_id_it_is_a_400(gateway_server, catalogue, make_api_key, query):
    response = generation(gateway_server, make_api_key(), query)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": 400,
            "message": "Missing id: GET /api/v1/generation?id=<generation id or request id>",
            "metadata": {},
            "type": "missing_id",
        }
    }


def test_without_a_valid_key_it_is_a_401(gateway_server, catalogue, make_api_key):
    revoked = make_api_key(name="revoked")
    ApiKey.objects.filter(name="revoked").update(revoked_at=datetime(2026, 1, 1, tzinfo=UTC))

    answers = [
        generation(gateway_server, None, "?id=gen-fake-1"),
        generation(gateway_server, "tl-not-a-key", "?id=gen-fake-1"),
        generation(gateway_server, revoked, "?id=gen-fake-1"),
    ]
    posted = httpx.post(f"{gateway_server.api_url}/generation?id=x", headers=auth(make_api_key()))

    assert [(a.status_code, a.json()["error"]["type"]) for a in answers] == [
        (401, "missing_key"),
        (401, "invalid_key"),
        (401, "revoked_key"),
    ]
    assert (posted.status_code, posted.json()["error"]["message"]) == (405, "Use GET for /api/v1/generation")


def test_a_refused_request_names_itself_and_is_found_with_its_refusal(
    gateway_server, catalogue, make_api_key
):
    secret = make_api_key(allowed_models=["anthropic/*"])

    refused = complete(gateway_server, secret)
    found = generation(gateway_server, secret, f"?id={refused.headers['x-tokenledger-request-id']}").json()

    (row,) = gateway_server.ledger(1)
    assert (refused.status_code, row.status, row.request_id) == (403, "rejected", found["data"]["request_id"])
    assert found["data"]["id"] == row.request_id  # no generation: our id stands for it
    assert (row.finish_reason, found["data"]["finish_reason"]) == ("", None)
    assert (found["data"]["total_cost"], found["data"]["provider_name"], found["data"]["latency"]) == (
        0,
        None,
        None,
    )
    assert found["data"]["tokenledger"]["status"] == "rejected"
    assert found["data"]["tokenledger"]["http_status"] == 403


@pytest.mark.parametrize(
    "cost_state, estimated", [("estimated", True), ("unreconciled", True), ("reconciled", False)]
)
def test_it_says_whether_the_cost_is_an_estimate(
    gateway_server, catalogue, make_api_key, cost_state, estimated
):
    secret = make_api_key(name="estimating")
    LedgerEntry.objects.create(
        api_key=ApiKey.objects.get(name="estimating"),
        created_at=datetime(2026, 12, 1, 10, tzinfo=UTC),
        request_id="a" * 32,
        endpoint="messages",
        requested_model="anthropic/claude-sonnet-4",
        served_model="anthropic/claude-sonnet-4",
        provider="Anthropic",
        generation_id="gen-cancelled",
        stream=True,
        http_status=499,
        status="cancelled",
        cost_state=cost_state,
        prompt_tokens=2000,
        cached_tokens=500,
        cache_write_tokens=300,
        cache_write_1h_tokens=100,
        completion_tokens=40,
        computed_cost=D("0.0046375"),
        latency_ms=900,
        ttft_ms=300,
        upstream_latency_ms=200,
    )

    data = generation(gateway_server, secret, "?id=gen-cancelled").json()["data"]

    assert data["tokenledger"]["cost_estimated"] is estimated
    assert data["tokenledger"]["cost_state"] == cost_state
    assert (data["total_cost"], data["usage"], data["tokenledger"]["reported_cost"]) == (
        0.0046375,
        0.0046375,
        None,
    )
    assert (data["cancelled"], data["streamed"], data["latency"], data["generation_time"]) == (
        True,
        True,
        300,
        600,
    )
    assert (data["native_tokens_prompt"], data["native_tokens_cached"], data["native_tokens_completion"]) == (
        2000, 500, 40,
    )  # fmt: skip
    assert (data["tokenledger"]["cache_write_tokens"], data["tokenledger"]["cache_write_1h_tokens"]) == (
        300,
        100,
    )
    assert (data["tokenledger"]["endpoint"], data["api_type"], data["created_at"]) == (
        "messages", "completions", "2026-12-01T10:00:00+00:00",
    )  # fmt: skip


def test_it_answers_every_field_of_the_fake_openrouters_generation_with_the_same_types(
    gateway_server, catalogue, make_api_key
):
    from tests.fakes.openrouter import Reply, generation_stats

    secret = make_api_key()
    complete(gateway_server, secret)
    ours = generation(gateway_server, secret, "?id=gen-fake-1").json()["data"]
    theirs = gateway_server.fake.generations["gen-fake-1"]

    assert set(generation_stats(Reply(), "gen-x", "m", False)) <= set(ours)
    assert {name: type(ours[name]) for name in theirs} == {
        name: type(value) for name, value in theirs.items()
    }
    assert {name: ours[name] for name in theirs if name != "created_at"} == {
        name: value for name, value in theirs.items() if name != "created_at"
    }
