"""Budgets under concurrency: reservations keep concurrent requests within what the key may still spend."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from tests.fakes.openrouter import Reply
from tests.usage.gateway_data import make_catalogue

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def post_many(gateway_server, secret: str, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(client.post, f"{gateway_server.api_url}/chat/completions", json=BODY, headers=headers)
            for _ in range(count)
        ]
        return [future.result().status_code for future in futures]


def test_a_first_request_on_a_fresh_key_whose_budget_covers_it_passes(
    gateway_server, catalogue, make_api_key
):
    secret = make_api_key(budget_usd=Decimal("0.0001"))
    statuses = post_many(gateway_server, secret, 1)
    assert statuses == [200]


def test_of_32_concurrent_requests_only_the_one_the_budget_covers_passes(
    gateway_server, catalogue, make_api_key
):
    # Every request costs 0.0006: after the first, 0.0009 of the 0.0015 budget is left, enough for one.
    gateway_server.fake.default = Reply(cost="0.0006")
    secret = make_api_key(budget_usd=Decimal("0.0015"))
    assert post_many(gateway_server, secret, 1) == [200]
    gateway_server.ledger(1)

    statuses = post_many(gateway_server, secret, 32)

    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 402, 429}
    rows = gateway_server.ledger(33)
    assert sum(r.reported_cost for r in rows if r.status == "ok") == Decimal("0.0012")
    assert [r.computed_cost for r in rows if r.status == "rejected"] == [Decimal(0)] * 31
    # Now spent 0.0012: less than a request is left, and the key says so.
    assert post_many(gateway_server, secret, 1) == [402]


def test_a_fresh_key_admits_one_request_at_a_time(gateway_server, catalogue, make_api_key):
    secret = make_api_key(budget_usd=Decimal("1"))
    gateway_server.fake.default = Reply(headers_delay=0.5)

    statuses = post_many(gateway_server, secret, 8)

    assert statuses.count(200) == 1
    assert statuses.count(429) == 7


def test_without_redis_the_counters_are_database_rows(gateway_server, catalogue, make_api_key, settings):
    if settings.REDIS_URL:
        pytest.skip("the counters are in Redis in this run")
    from usage.models import KeyCounter

    gateway_server.fake.default = Reply(cost="0.0006")
    secret = make_api_key(budget_usd=Decimal("1"), budget_period="none", rpm_limit=10)
    assert post_many(gateway_server, secret, 1) == [200]
    assert post_many(gateway_server, secret, 1) == [200]  # admitted after the first one settled

    gateway_server.ledger(2)
    budget = KeyCounter.objects.get(window="none")
    [minute] = KeyCounter.objects.filter(window__startswith="minute:")
    assert minute.requests == 2
    assert budget.spent in (600_000, 1_200_000)  # nanodollars: the second may not have settled yet
    assert budget.average == 600_000


def test_without_redis_a_request_left_in_flight_by_a_dead_worker_expires(
    gateway_server, catalogue, make_api_key, settings
):
    if settings.REDIS_URL:
        pytest.skip("the counters are in Redis in this run")
    from datetime import timedelta

    from django.utils import timezone

    from usage.models import ApiKey, KeyCounter

    live = make_api_key(name="live", budget_usd=Decimal("1"), budget_period="none")
    dead = make_api_key(name="dead", budget_usd=Decimal("1"), budget_period="none")
    # Each key's first request (no history yet) was admitted and not settled: a minute ago, and 16
    # minutes ago by a worker that then died.
    now = timezone.now()
    for name, ago in (("live", 1), ("dead", 16)):
        key = ApiKey.objects.get(name=name)
        KeyCounter.objects.create(
            api_key=key, window="none", inflight=1, changed_at=now - timedelta(minutes=ago)
        )

    assert post_many(gateway_server, live, 1) == [429]  # one at a time until the first completes
    assert post_many(gateway_server, dead, 1) == [200]
