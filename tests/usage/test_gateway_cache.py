"""The response cache through the gateway: misses fill it, hits replay it (JSON and SSE) as `cached` rows."""

import time
from decimal import Decimal

import httpx
import openai
import pytest

from tests.usage.gateway_data import make_catalogue

MESSAGES = [{"role": "user", "content": "hi"}]
BODY = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "temperature": 0}


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


@pytest.fixture
def caching_secret(catalogue, make_api_key, member):
    return make_api_key(owner=member, name="caching key", cache_responses=True)


def settled(timeout: float = 10.0) -> None:
    """Wait until the gateway's background work (cache fills) is done."""
    from usage.gateway.app import gateway

    deadline = time.monotonic() + timeout
    while gateway.tasks:
        assert time.monotonic() < deadline, "the gateway's background tasks did not finish"
        time.sleep(0.01)


def post(gateway_server, secret: str, body: dict, **headers) -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}", **headers}
    response = httpx.post(f"{gateway_server.api_url}/chat/completions", json=body, headers=headers)
    settled()
    return response


def test_a_repeated_deterministic_request_is_answered_from_the_cache(
    gateway_server, caching_secret, catalogue
):
    first = post(gateway_server, caching_secret, BODY)
    second = post(
        gateway_server, caching_secret, {**BODY, "user": "someone else"}
    )  # `user` is not in the key

    assert (first.status_code, first.headers["x-tokenledger-cache"]) == (200, "miss")
    assert (second.status_code, second.headers["x-tokenledger-cache"]) == (200, "hit")
    assert second.content == first.content
    assert len(gateway_server.fake.requests) == 1
    miss, hit = gateway_server.ledger(2)
    assert (miss.status, miss.reported_cost, miss.computed_cost, miss.meta) == (
        "ok",
        Decimal("0.0000066"),
        Decimal("0.0000066"),
        {},
    )
    assert (hit.status, hit.http_status, hit.requested_model, hit.served_model, hit.provider) == (
        "cached",
        200,
        "openai/gpt-4o-mini",
        "openai/gpt-4o-mini",
        "OpenAI",
    )
    assert (hit.prompt_tokens, hit.completion_tokens, hit.generation_id) == (12, 8, "gen-fake-1")
    assert (hit.reported_cost, hit.computed_cost, hit.price_version) == (None, Decimal(0), None)
    assert hit.meta == {"cache": "hit", "saved_cost": "0.0000066"}
    assert hit.user_tag == "someone else"


def test_a_stream_is_cached_and_replayed_as_the_same_server_sent_events(
    gateway_server, caching_secret, catalogue
):
    gateway_server.fake.reply(text="One two three four.", chunks=4)
    body = {**BODY, "stream": True, "seed": 7, "temperature": 1}

    first = post(gateway_server, caching_secret, body)
    second = post(gateway_server, caching_secret, body)
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=caching_secret, max_retries=0)
    third = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, seed=7, temperature=1
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in third if chunk.choices)

    assert first.headers["x-tokenledger-cache"] == "miss"
    assert (second.headers["x-tokenledger-cache"], second.headers["content-type"]) == (
        "hit",
        "text/event-stream",
    )
    assert second.content == first.content
    assert first.content.endswith(b"data: [DONE]\n\n")
    assert text == "One two three four."
    assert len(gateway_server.fake.requests) == 1
    rows = gateway_server.ledger(3)
    assert [(r.status, r.stream, r.completion_tokens, r.computed_cost) for r in rows] == [
        ("ok", True, 8, Decimal("0.0000066")),
        ("cached", True, 8, Decimal(0)),
        ("cached", True, 8, Decimal(0)),
    ]
    assert rows[2].meta == {"cache": "hit", "saved_cost": "0.0000066"}


def test_stream_and_non_stream_are_separate_entries(gateway_server, caching_secret, catalogue):
    post(gateway_server, caching_secret, BODY)
    streamed = post(gateway_server, caching_secret, {**BODY, "stream": True})

    assert streamed.headers["x-tokenledger-cache"] == "miss"
    assert len(gateway_server.fake.requests) == 2


def test_a_request_that_is_not_deterministic_is_never_cached(gateway_server, caching_secret, catalogue):
    body = {**BODY, "temperature": 0.7}

    first = post(gateway_server, caching_secret, body)
    second = post(gateway_server, caching_secret, body)

    assert "x-tokenledger-cache" not in first.headers
    assert "x-tokenledger-cache" not in second.headers
    assert len(gateway_server.fake.requests) == 2
    assert [row.status for row in gateway_server.ledger(2)] == ["ok", "ok"]


def test_the_request_header_turns_the_cache_on_or_off_whatever_the_key_says(
    gateway_server, caching_secret, make_api_key, catalogue
):
    plain = make_api_key(name="plain key")

    assert "x-tokenledger-cache" not in post(gateway_server, plain, BODY).headers
    assert post(gateway_server, plain, BODY, **{"X-Tokenledger-Cache": "on"}).headers[
        "x-tokenledger-cache"
    ] == ("miss")
    assert post(gateway_server, plain, BODY, **{"X-Tokenledger-Cache": "on"}).headers[
        "x-tokenledger-cache"
    ] == ("hit")
    off = post(gateway_server, caching_secret, BODY, **{"X-Tokenledger-Cache": "off"})

    assert "x-tokenledger-cache" not in off.headers
    assert len(gateway_server.fake.requests) == 3
    assert [row.status for row in gateway_server.ledger(4)] == ["ok", "ok", "cached", "ok"]


def test_an_error_reply_is_not_cached(gateway_server, caching_secret, catalogue):
    gateway_server.fake.reply(status=429)

    first = post(gateway_server, caching_secret, BODY)
    second = post(gateway_server, caching_secret, BODY)

    assert (first.status_code, second.status_code) == (429, 200)
    assert second.headers["x-tokenledger-cache"] == "miss"
    assert len(gateway_server.fake.requests) == 2
