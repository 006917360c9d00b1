"""A cancelled or broken request is never free: the gateway records an estimate at once, keeps the request's
worst case reserved, and the reconciliation (usage/services/reconcile.py) replaces the estimate with what
OpenRouter billed (GET /generation) and settles the limit counters. Through the real gateway over HTTP, on
the database counters and, in the PostgreSQL + Redis run, on Redis."""

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import httpx
import pytest
import redis
from django.core.management import call_command

from tests.fakes.openrouter import FakeOpenRouter, Reply, serve
from tests.fakes.rawhttp import sse_reply, stream_events
from tests.usage.gateway_data import make_catalogue_with_local
from usage.models import (
    Alias,
    AliasMember,
    ApiKey,
    BudgetReservation,
    HourlyRollup,
    KeyCounter,
    LedgerEntry,
    Upstream,
)
from usage.services.reconcile import ledger_reconcile
from usage.services.rollups import rollup_catch_up

MAX_TOKENS = 6000
BODY = {
    "model": "openai/gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": MAX_TOKENS,
    "stream": True,
}
RAW = json.dumps(BODY, separators=(",", ":")).encode()
# gpt-4o-mini: $0.15/M in, $0.60/M out, i.e. 150 and 600 nanodollars a token. The worst case of one stream:
# the body's bytes bound its prompt, max_tokens its output.
WORST = len(RAW) * 150 + MAX_TOKENS * 600  # 3 615 000 nanodollars and a little
# What the fake bills for each stream, at catalogue prices: 1 000 × $0.15/M + 4 750 × $0.60/M = $0.003.
BILLED = Reply(prompt_tokens=1000, completion_tokens=4750, cost="0.003", chunk_delay=0.2)
# The estimate of a stream left before its usage: "hi" is 1 token, the 31 characters relayed
# ("Hello from the fake OpenRouter.") 8.
ESTIMATE = 1 * 150 + 8 * 600  # 4 950 nanodollars
ESTIMATED_USAGE = "estimated: the prompt from the request, the output from the text relayed"


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue_with_local()


def stream_and_leave(gateway_server, secret: str, body: bytes = RAW, finish: str = "stop") -> int:
    """Stream a completion, read its content and leave just before the final usage event: the status."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    with httpx.stream(
        "POST", f"{gateway_server.api_url}/chat/completions", content=body, headers=headers, timeout=30
    ) as response:
        if response.status_code == 200:
            for line in response.iter_lines():
                if f'"finish_reason": "{finish}"' in line:
                    break
        else:
            response.read()
        return response.status_code


def counters(settings, key: ApiKey, window: str = "none") -> tuple[int, int]:
    """(spent, reserved) in the key's budget window, in nanodollars: in Redis, else in the database."""
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        prefix = settings.GATEWAY_REDIS_PREFIX
        spent = int(client.get(f"{prefix}spent:{key.pk}:{window}") or 0)
        reserved = sum(int(v) for v in client.hvals(f"{prefix}resa:{key.pk}:{window}"))
        assert client.zcard(f"{prefix}resv:{key.pk}:{window}") == client.hlen(
            f"{prefix}resa:{key.pk}:{window}"
        )
        return spent, reserved
    spent = KeyCounter.objects.get(api_key=key, window=window).spent
    return spent, sum(r.amount for r in BudgetReservation.objects.filter(api_key=key, window=window))


def test_streams_left_before_their_usage_cannot_spend_past_the_budget(
    gateway_server, catalogue, make_api_key, settings
):
    gateway_server.fake.default = BILLED
    secret = make_api_key(name="k", budget_usd=Decimal("0.01"), budget_period="none")
    key = ApiKey.objects.get(name="k")
    assert 3 * WORST > 10_000_000 >= 3_000_000 * 2 + WORST

    # 20 streams, each left just before its usage: while the first two wait for reconciliation, each still
    # holds its worst case, so the others must wait (429 budget_reserved), none is free.
    outcomes = [stream_and_leave(gateway_server, secret) for _ in range(20)]

    assert outcomes == [200, 200] + [429] * 18
    assert gateway_server.fake.wait_closed_early(2)
    rows = gateway_server.ledger(20)
    gateway_server.settled()
    left = [r for r in rows if r.status == "cancelled"]
    assert [(r.prompt_tokens, r.completion_tokens, r.cost_state, r.meta) for r in left] == [
        (1, 8, "estimated", {"usage": ESTIMATED_USAGE})
    ] * 2
    assert [r.computed_cost for r in left] == [Decimal("0.00000495")] * 2
    # The estimates are spent; the rest of each worst case stays reserved: 2 worst cases in all.
    assert counters(settings, key) == (2 * ESTIMATE, 2 * (WORST - ESTIMATE))

    result = ledger_reconcile()

    assert (result.reconciled, result.unreconciled, result.waiting) == (2, 0, 0)
    left = list(LedgerEntry.objects.filter(status="cancelled").order_by("id"))
    assert [
        (r.reported_cost, r.computed_cost, r.prompt_tokens, r.completion_tokens, r.cost_state) for r in left
    ] == [(Decimal("0.003"), Decimal("0.003"), 1000, 4750, "reconciled")] * 2
    assert left[0].meta == {
        "usage": "reconciled from OpenRouter's generation stats",
        "reconcile": {"tries": 1, "last": "ok", "estimate": "0.00000495"},
    }
    assert counters(settings, key) == (6_000_000, 0)

    # $0.004 left pays one more worst case; once that is reconciled, $0.001 left pays none.
    assert stream_and_leave(gateway_server, secret) == 200
    gateway_server.ledger(21)
    gateway_server.settled()
    assert ledger_reconcile().reconciled == 1
    assert stream_and_leave(gateway_server, secret) == 402
    rows = gateway_server.ledger(22)
    assert sum(r.spent_cost for r in rows) == Decimal("0.009") <= Decimal("0.01")
    assert counters(settings, key) == (9_000_000, 0)


def test_the_reconciliation_waits_for_the_stats_then_takes_them(gateway_server, catalogue, make_api_key):
    gateway_server.fake.default = BILLED
    gateway_server.fake.generation_not_ready = 2
    secret = make_api_key()
    assert stream_and_leave(gateway_server, secret) == 200
    [row] = gateway_server.ledger(1)
    at = row.created_at

    # Tries are due at once, then 900 × (n / 9)² seconds after the request: 11.1 s, 44.4 s...
    assert ledger_reconcile(now=at + timedelta(seconds=1)).waiting == 1
    assert ledger_reconcile(now=at + timedelta(seconds=11)).waiting == 0  # not due yet
    assert ledger_reconcile(now=at + timedelta(seconds=12)).waiting == 1
    result = ledger_reconcile(now=at + timedelta(seconds=45))

    assert (result.reconciled, result.waiting) == (1, 0)
    row.refresh_from_db()
    assert (row.cost_state, row.reported_cost, row.meta["reconcile"]["tries"]) == (
        "reconciled",
        Decimal("0.003"),
        3,
    )
    paths = [r.path for r in gateway_server.fake.requests if r.path.endswith("/generation")]
    assert paths == ["/api/v1/generation"] * 3
    assert gateway_server.fake.requests[-1].headers["authorization"] == "Bearer sk-or-test-upstream"
    # Reconciled rows are never asked about again.
    assert ledger_reconcile(now=at + timedelta(hours=1)) == type(result)(0, 0, 0, 0)


def test_stats_that_never_come_leave_the_estimate_unreconciled_and_settle_at_it(
    gateway_server, catalogue, make_api_key, settings
):
    settings.LEDGER_RECONCILE_TRIES = 3
    settings.LEDGER_RECONCILE_SECONDS = 60
    gateway_server.fake.default = BILLED
    gateway_server.fake.generation_not_ready = 1000
    secret = make_api_key(name="k", budget_usd=Decimal("1"), budget_period="none")
    key = ApiKey.objects.get(name="k")
    assert stream_and_leave(gateway_server, secret) == 200
    [row] = gateway_server.ledger(1)
    gateway_server.settled()
    assert counters(settings, key) == (ESTIMATE, WORST - ESTIMATE)

    for seconds, waiting in ((0, 1), (15, 1)):
        assert ledger_reconcile(now=row.created_at + timedelta(seconds=seconds)).waiting == waiting
    result = ledger_reconcile(now=row.created_at + timedelta(seconds=60))

    assert (result.reconciled, result.unreconciled, result.waiting) == (0, 1, 0)
    row.refresh_from_db()
    assert (row.cost_state, row.reported_cost, row.computed_cost) == (
        "unreconciled",
        None,
        Decimal("0.00000495"),
    )
    assert row.meta["reconcile"] == {"tries": 3, "last": "404"}
    assert counters(settings, key) == (ESTIMATE, 0)


def test_a_reconciled_cost_counts_in_the_period_of_its_request_and_rerolls_its_hour(
    gateway_server, catalogue, make_api_key, settings
):
    gateway_server.fake.default = BILLED
    secret = make_api_key(name="k", budget_usd=Decimal("1"), budget_period="daily")
    key = ApiKey.objects.get(name="k")
    assert stream_and_leave(gateway_server, secret) == 200
    [row] = gateway_server.ledger(1)
    gateway_server.settled()
    day = f"daily:{row.created_at:%Y-%m-%d}"
    later = row.created_at + timedelta(days=1, hours=3)  # the next day, the request's hour rolled up
    rollup_catch_up(now=later)
    [hour] = HourlyRollup.objects.all()
    assert (hour.requests, hour.computed_cost, hour.completion_tokens) == (1, Decimal("0.00000495"), 8)

    out = StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.utils.timezone.now", lambda: later)
        call_command("reconcile_ledger", stdout=out)

    assert out.getvalue() == "reconcile ok: reconciled=1 unreconciled=0 waiting=0 rollup_hours=1\n"
    [hour] = HourlyRollup.objects.all()
    assert (hour.requests, hour.reported_cost, hour.computed_cost, hour.completion_tokens) == (
        1,
        Decimal("0.003"),
        Decimal("0.003"),
        4750,
    )
    assert counters(settings, key, day) == (3_000_000, 0)  # the request's day, not the day it was reconciled


@pytest.mark.parametrize(
    ("reply", "finish", "tokens"),
    [
        # 100 000 characters in 100 events (far more than the relay keeps unread): 25 000 tokens.
        (Reply(text="x" * 100_000, chunks=100, chunk_delay=0.02), "stop", 25_000),
        # A tool call's name and arguments: 11 + 17 characters, 7 tokens.
        (
            Reply(
                tool_calls=[
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
                chunk_delay=0.2,
            ),
            "tool_calls",
            7,
        ),
    ],
    ids=["long text", "tool call"],
)
def test_the_output_estimate_is_the_text_relayed(
    gateway_server, catalogue, make_api_key, reply, finish, tokens
):
    gateway_server.fake.reply(reply)

    assert stream_and_leave(gateway_server, make_api_key(), finish=finish) == 200

    [row] = gateway_server.ledger(1)
    assert (row.status, row.prompt_tokens, row.completion_tokens, row.cost_state) == (
        "cancelled",
        1,
        tokens,
        "estimated",
    )
    assert row.computed_cost == Decimal("0.00000015") + tokens * Decimal("0.0000006")


@pytest.fixture
def local_upstream(catalogue, monkeypatch):
    """A second fake as a vLLM server: upstream "local" for model ids "local/...", which bills nothing."""
    fake = FakeOpenRouter(default=Reply(text="Hello from vLLM.", provider="", cost=None, chunk_delay=0.2))
    server = serve(fake)
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret-123")
    Upstream.objects.create(
        name="local", base_url=fake.url, api_key_env="VLLM_API_KEY", model_prefix="local/", enabled=True
    )
    yield fake
    server.stop()


def test_a_cancelled_alias_stream_keeps_its_routing_and_another_upstream_settles_at_the_estimate(
    gateway_server, local_upstream, make_api_key, settings
):
    alias = Alias.objects.create(name="team/fast", strategy="ordered")
    for position, model in enumerate(("openai/gpt-4o-mini", "local/qwen3-8b")):
        AliasMember.objects.create(alias=alias, position=position, model=model, weight=1)
    gateway_server.fake.reply(status=502)
    secret = make_api_key(name="k", budget_usd=Decimal("1"), budget_period="none")
    key = ApiKey.objects.get(name="k")
    body = json.dumps({**BODY, "model": "team/fast", "max_tokens": 100}).encode()

    assert stream_and_leave(gateway_server, secret, body) == 200

    assert local_upstream.wait_closed_early(1)
    [row] = gateway_server.ledger(1)
    gateway_server.settled()
    assert (row.status, row.served_model, row.meta["alias"], row.meta["strategy"], row.meta["upstream"]) == (
        "cancelled",
        "local/qwen3-8b",
        "team/fast",
        "ordered",
        "local",
    )
    assert [(a["upstream"], a["status"]) for a in row.meta["attempts"]] == [
        ("openrouter", 502),
        ("local", 200),
    ]
    # vLLM cannot be asked what it used: "Hello from vLLM." (16 characters) is 4 tokens, "hi" 1, at
    # $0.10/M in and $0.20/M out; the estimate stands and is what the budget counts.
    assert (row.prompt_tokens, row.completion_tokens, row.cost_state) == (1, 4, "unreconciled")
    assert row.computed_cost == Decimal("0.0000009")
    assert counters(settings, key) == (900, 0)
    assert ledger_reconcile() == type(ledger_reconcile())(0, 0, 0, 0)


def test_unreadable_stats_count_as_a_try(gateway_server, catalogue, make_api_key):
    gateway_server.fake.default = BILLED
    assert stream_and_leave(gateway_server, make_api_key()) == 200
    [row] = gateway_server.ledger(1)
    gateway_server.fake.generations[row.generation_id]["total_cost"] = "NaN"

    result = ledger_reconcile(now=row.created_at)

    assert (result.reconciled, result.waiting) == (0, 1)
    row.refresh_from_db()
    assert (row.cost_state, row.reported_cost, row.meta["reconcile"]) == (
        "estimated",
        None,
        {"tries": 1, "last": "unreadable stats"},
    )


def test_a_broken_alias_stream_keeps_its_routing(raw_gateway, catalogue, make_api_key):
    alias = Alias.objects.create(name="team/fast", strategy="ordered")
    AliasMember.objects.create(alias=alias, position=0, model="openai/gpt-4o-mini", weight=1)
    raw_gateway.fake.script(sse_reply(stream_events()[:4], end="reset"))
    body = json.dumps({**BODY, "model": "team/fast", "max_tokens": 100}).encode()

    assert stream_and_leave(raw_gateway, make_api_key(), body) == 200

    [row] = raw_gateway.ledger(1)
    assert (row.status, row.error_code, row.meta["alias"], row.meta["strategy"], row.meta["upstream"]) == (
        "error",
        "upstream_stream_broken",
        "team/fast",
        "ordered",
        "openrouter",
    )
    # 14 characters relayed before the break ("Hello from the raw upstream." in 4 pieces, 2 of them): 4 tokens.
    assert (row.prompt_tokens, row.completion_tokens, row.cost_state) == (1, 4, "estimated")
    assert row.meta["usage"] == ESTIMATED_USAGE
