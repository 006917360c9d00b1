"""Budgets under concurrency: admission reserves each request's worst-case cost (usage/gateway/worst_case.py),
so that a burst of any size spends at most the budget; each reservation lapses on its own deadline. On the
database counters and, in the PostgreSQL + Redis run, on Redis."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
import redis
from django.utils import timezone

from tests.fakes.openrouter import Reply
from tests.usage.gateway_data import make_catalogue
from usage.models import ApiKey, BudgetReservation, KeyCounter, LedgerEntry

MAX_TOKENS = 1000
BODY = {
    "model": "openai/gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": MAX_TOKENS,
}
PROMPT_BOUND = len(json.dumps(BODY, separators=(",", ":")))  # bytes of the body: at least its tokens
# gpt-4o-mini: $0.15/M in, $0.60/M out. Nanodollars: 150 per input token, 600 per output token.
WORST = PROMPT_BOUND * 150 + MAX_TOKENS * 600  # nanodollars
BILLED = Decimal("0.0006018")  # what the fake bills: 12 × $0.15/M + 1 000 × $0.60/M, at catalogue prices


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def post_many(gateway_server, secret: str, count: int, body=BODY) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(client.post, f"{gateway_server.api_url}/chat/completions", json=body, headers=headers)
            for _ in range(count)
        ]
        return [future.result() for future in futures]


def statuses(responses) -> list[int]:
    return [r.status_code for r in responses]


def test_a_request_whose_worst_case_the_budget_cannot_pay_gets_openrouters_402(
    gateway_server, catalogue, make_api_key
):
    budget = Decimal("0.0005")  # 500 000 nanodollars: less than the worst case
    assert WORST > 500_000
    secret = make_api_key(budget_usd=budget)

    [response] = post_many(gateway_server, secret, 1)

    affordable = (500_000 - PROMPT_BOUND * 150) // 600
    assert response.status_code == 402
    assert response.json()["error"]["message"] == (
        "This request requires more credits, or fewer max_tokens. You requested up to 1000 tokens, "
        f"but can only afford {affordable}. (This key's monthly budget is $0.0005.)"
    )
    assert response.json()["error"]["code"] == 402
    assert gateway_server.fake.requests == []
    # With fewer max_tokens it fits.
    [response] = post_many(gateway_server, secret, 1, body=BODY | {"max_tokens": affordable})
    assert response.status_code == 200


def test_a_burst_of_32_expensive_requests_spends_at_most_the_budget(gateway_server, catalogue, make_api_key):
    # The first three wait 1.5 s upstream: the other 29 arrive while they are in flight, even on a busy machine.
    gateway_server.fake.default = Reply(completion_tokens=MAX_TOKENS, cost=str(BILLED), headers_delay=1.5)
    budget = Decimal("0.003")
    secret = make_api_key(budget_usd=budget)
    assert statuses(post_many(gateway_server, secret, 1)) == [200]
    gateway_server.ledger(1)

    burst = statuses(post_many(gateway_server, secret, 32))

    # 0.0030 − 0.0006018 spent leaves room for 3 worst cases in flight at once; the others would fit once
    # those settle (429, retry), none is refused for good yet.
    left = 3_000_000 - 601_800
    assert burst.count(200) == left // WORST == 3
    assert burst.count(429) == 29
    rows = gateway_server.ledger(33)
    spent = sum(r.reported_cost for r in rows if r.status == "ok")
    assert spent == 4 * BILLED <= budget
    # 0.0024072 spent: what is left cannot pay a worst case any more.
    [response] = post_many(gateway_server, secret, 1)
    assert (response.status_code, response.json()["error"]["code"]) == (402, 402)


def test_on_the_database_each_request_holds_a_reservation_until_it_settles(
    gateway_server, catalogue, make_api_key, settings
):
    if settings.REDIS_URL:
        pytest.skip("the counters are in Redis in this run")
    gateway_server.fake.default = Reply(completion_tokens=MAX_TOKENS, cost=str(BILLED))
    secret = make_api_key(budget_usd=Decimal("1"), budget_period="none", rpm_limit=10)
    assert statuses(post_many(gateway_server, secret, 2)) == [200, 200]

    gateway_server.ledger(2)
    gateway_server.settled()
    budget = KeyCounter.objects.get(window="none")
    [minute] = KeyCounter.objects.filter(window__startswith="minute:")
    assert (minute.requests, budget.spent) == (2, 2 * 601_800)
    assert not BudgetReservation.objects.exists()


def reserve_for_a_dead_worker(key: ApiKey, settings, *, amount: int, deadline) -> None:
    """A reservation left by a worker that died: in the database, or in Redis (its sorted set and hash)."""
    window = "none"
    if not settings.REDIS_URL:
        KeyCounter.objects.get_or_create(api_key=key, window=window)
        BudgetReservation.objects.create(
            id=f"dead{deadline.timestamp():.0f}", api_key=key, window=window, amount=amount, deadline=deadline
        )
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.GATEWAY_REDIS_PREFIX
    client.set(f"{prefix}spent:{key.pk}:{window}", 0)
    rid = f"dead{deadline.timestamp():.0f}"
    client.zadd(f"{prefix}resv:{key.pk}:{window}", {rid: int(deadline.timestamp() * 1000)})
    client.hset(f"{prefix}resa:{key.pk}:{window}", rid, amount)


def test_a_reservation_lapses_on_its_own_deadline_whatever_the_traffic(
    gateway_server, catalogue, make_api_key, settings
):
    gateway_server.fake.default = Reply(headers_delay=0.5)
    secret = make_api_key(name="k", budget_usd=Decimal("0.002"), budget_period="none")
    key = ApiKey.objects.get(name="k")
    now = timezone.now()
    # A dead worker's reservation of $0.0015 that lapsed a second ago, and one of $0.0005 still live.
    reserve_for_a_dead_worker(key, settings, amount=1_500_000, deadline=now - timedelta(seconds=1))
    reserve_for_a_dead_worker(key, settings, amount=500_000, deadline=now + timedelta(minutes=10))

    # 0.002 − 0.0005 live leaves 0.0015: room for two worst cases (≈ 0.000609 each).
    responses = post_many(gateway_server, secret, 3)
    assert sorted(statuses(responses)) == [200, 200, 429]
    gateway_server.ledger(3)
    assert LedgerEntry.objects.filter(status="ok").count() == 2
