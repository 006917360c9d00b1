"""GET /api/v1/models?order=usage[&days=N]: the key's owner's most-used models first (over all the owner's
keys; the key's own for a key without owner), by requests over the last N days (30), ties by spend then id,
then the rest of the listing in its usual order. Read from the rollups (and the ledger after them), kept
GATEWAY_USAGE_ORDER_SECONDS per key."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from django.utils import timezone

from tests.usage.gateway_data import make_catalogue
from usage.models import ApiKey, LedgerEntry
from usage.services.rollups import rollup_catch_up

D = Decimal
USUAL = ["anthropic/claude-sonnet-4", "deepseek/deepseek-r1", "openai/gpt-4o-mini", "openrouter/auto"]


@pytest.fixture
def keys(transactional_db, make_api_key, member, outsider):
    make_catalogue()
    secrets = {
        "first": make_api_key(owner=member, name="first"),
        "second": make_api_key(owner=member, name="second"),
        "ownerless": make_api_key(name="ownerless"),
        "outsider": make_api_key(owner=outsider, name="outsider"),
    }
    return secrets


def used(key: str, model: str, *, count: int = 1, days_ago: float = 1, cost: str = "0.001") -> None:
    api_key = ApiKey.objects.get(name=key)
    when = timezone.now() - timedelta(days=days_ago)
    for _ in range(count):
        LedgerEntry.objects.create(
            api_key=api_key,
            created_at=when,
            requested_model=model,
            served_model=model,
            http_status=200,
            status="ok",
            reported_cost=D(cost),
        )


def listed(gateway_server, secret: str | None, query: str = "?order=usage") -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.get(f"{gateway_server.api_url}/models{query}", headers=headers)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["data"]]


@pytest.fixture
def usage(keys):
    # The member's two keys together: deepseek 3 (one on each key... and one more), gpt-4o-mini 3 but
    # cheaper, claude 1; the outsider's and the ownerless key's requests are not theirs.
    used("first", "deepseek/deepseek-r1", count=2, cost="0.002")
    used("second", "deepseek/deepseek-r1", days_ago=0.01)  # in the ledger's raw tail, not rolled up
    used("first", "openai/gpt-4o-mini", count=2)
    used("second", "openai/gpt-4o-mini")
    used("second", "anthropic/claude-sonnet-4", days_ago=3)
    used("first", "openrouter/auto", count=9, days_ago=40)  # outside the default 30 days
    used("outsider", "anthropic/claude-sonnet-4", count=20)
    used("ownerless", "openai/gpt-4o-mini", count=2)
    used("ownerless", "anthropic/claude-sonnet-4", count=2)  # a tie on requests and spend: by id
    used("ownerless", "deepseek/deepseek-r1", days_ago=2)
    rollup_catch_up()
    return keys


def test_an_owners_keys_list_their_most_used_models_first(gateway_server, usage):
    first = ids(listed(gateway_server, usage["first"]))
    second = ids(listed(gateway_server, usage["second"], "?order=usage&days=30"))

    # deepseek 3 requests ($0.005), gpt-4o-mini 3 ($0.003), claude 1, then the rest as usual
    expected = ["deepseek/deepseek-r1", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4", "openrouter/auto"]
    assert first == second == expected


def test_a_key_without_owner_lists_its_own_most_used_models_first(gateway_server, usage):
    # claude and gpt-4o-mini both 2 requests and $0.002: by id
    assert ids(listed(gateway_server, usage["ownerless"])) == [
        "anthropic/claude-sonnet-4",
        "openai/gpt-4o-mini",
        "deepseek/deepseek-r1",
        "openrouter/auto",
    ]


def test_the_days_window_is_respected(gateway_server, usage):
    assert ids(listed(gateway_server, usage["first"], "?order=usage&days=41")) == [
        "openrouter/auto",  # 9 requests 40 days ago
        "deepseek/deepseek-r1",
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4",
    ]
    assert ids(listed(gateway_server, usage["first"], "?order=usage&days=2")) == [
        "deepseek/deepseek-r1",
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4",  # 3 days ago: not used in the last 2 days
        "openrouter/auto",
    ]


def test_without_order_and_without_usage_the_listing_is_as_usual(gateway_server, usage, make_api_key):
    fresh = make_api_key(name="fresh")
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=usage["first"], max_retries=0)

    assert ids(listed(gateway_server, usage["first"], "")) == USUAL
    assert ids(listed(gateway_server, fresh)) == USUAL
    assert [model.id for model in client.models.list(extra_query={"order": "usage"})][:2] == [
        "deepseek/deepseek-r1",
        "openai/gpt-4o-mini",
    ]


def test_the_allowed_models_still_apply(gateway_server, usage, make_api_key, member):
    limited = make_api_key(owner=member, name="limited", allowed_models=["openai/*", "anthropic/*"])

    assert ids(listed(gateway_server, limited)) == ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("?order=popular", "Unknown order 'popular': the only order is usage"),
        ("?order=usage&days=0", "days must be a whole number from 1 to 365"),
        ("?order=usage&days=366", "days must be a whole number from 1 to 365"),
        ("?order=usage&days=abc", "days must be a whole number from 1 to 365"),
        ("?order=usage&days=-3", "days must be a whole number from 1 to 365"),
        ("?order=usage&days=" + "9" * 5000, "days must be a whole number from 1 to 365"),
        ("?days=7.5", "days must be a whole number from 1 to 365"),
    ],
)
def test_bad_values_are_a_400(gateway_server, keys, query, message):
    response = listed(gateway_server, keys["first"], query)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_order_usage_without_a_key_is_a_400(gateway_server, keys):
    response = listed(gateway_server, None)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": 400,
            "message": "order=usage lists your own most-used models first: send your API key",
            "metadata": {},
            "type": "key_required",
        }
    }
    assert listed(gateway_server, None, "?days=7").status_code == 200  # days alone changes nothing


def test_the_order_is_kept_briefly_per_key(gateway_server, usage, settings):
    assert settings.GATEWAY_USAGE_ORDER_SECONDS == 60  # the default (each test's gateway starts afresh)
    before = ids(listed(gateway_server, usage["first"]))
    used("second", "anthropic/claude-sonnet-4", count=5, days_ago=0.01)

    again = ids(listed(gateway_server, usage["first"]))
    other_key = ids(listed(gateway_server, usage["second"]))  # its own entry: read now
    other_window = ids(listed(gateway_server, usage["first"], "?order=usage&days=29"))

    assert (
        before
        == again
        == ["deepseek/deepseek-r1", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4", "openrouter/auto"]
    )
    assert other_key[0] == other_window[0] == "anthropic/claude-sonnet-4"
