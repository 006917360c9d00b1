"""Reconciliation of estimated costs: a request that was cancelled, broke off or was interrupted got an
estimate in the ledger (cost_state "estimated", usage/gateway/estimate.py); OpenRouter's
`GET /api/v1/generation?id=` later says what it billed (total_cost) and the native token counts.

Each estimated row is asked about up to LEDGER_RECONCILE_TRIES times, spread over LEDGER_RECONCILE_SECONDS
after its request with growing gaps (try n is due at seconds × (n / (tries − 1))²: at once, then ~11 s,
~44 s, ~100 s... with the defaults), while the stats are not ready (404) or cannot be had. Then:

- stats: the row takes the billed cost and tokens (its computed cost is redone at its price version's
  effective prices), cost_state "reconciled"; the rollup hours it touches are rebuilt;
- no stats after the last try: the estimate stays, cost_state "unreconciled".

Either way the limit counters settle (usage/budget_counters.py): the request's reservation (held under its
request id until now, app.finish) is released and the difference from the estimate, already spent, is added
to the spend of the budget window of the request's own time (its created_at). Counters in Redis when
REDIS_URL is set (the gateway's settle script), else in the database (key_counters). Idempotent: a row is
settled by whichever run changes its cost state first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from usage.budget_counters import SETTLE, budget_window, settle_args, signed_nano
from usage.costs import cache_savings, computed_cost, spent_cost
from usage.models import LedgerEntry, RollupState
from usage.selectors.rollups import HOUR, ROLLUP_STATE_NAME, floor_hour
from usage.services.key_counters import key_counters_settle
from usage.services.rollups import rollup_rebuild
from usage.usage_values import as_cost, as_count

logger = logging.getLogger(__name__)

ESTIMATED = LedgerEntry.CostState.ESTIMATED
BATCH = 500  # rows looked at per run, oldest first
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
UPDATED = (
    "reported_cost",
    "computed_cost",
    "cache_savings",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "provider",
    "cost_state",
    "meta",
)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    reconciled: int  # rows that took OpenRouter's billed cost
    unreconciled: int  # rows whose tries ran out: the estimate stands
    waiting: int  # rows asked about whose stats were not ready (tried again later)
    hours: int  # rollup hours rebuilt


@dataclass(frozen=True, slots=True)
class Billed:
    """What OpenRouter billed for one generation."""

    cost: Decimal
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    provider: str


def reconcile_due(*, created_at: datetime, tries: int) -> datetime:
    """When a row made at `created_at`, asked about `tries` times already, is next due."""
    last = settings.LEDGER_RECONCILE_TRIES - 1
    if last <= 0 or tries <= 0:
        return created_at
    return created_at + timedelta(seconds=settings.LEDGER_RECONCILE_SECONDS * (min(tries, last) / last) ** 2)


def billed_of(data: Any) -> Billed | None:
    """The billed cost and tokens in GET /generation's `data`, or None if they are missing or not valid."""
    if not isinstance(data, dict):
        return None
    cost = as_cost(data.get("total_cost"), settings.GATEWAY_MAX_REQUEST_COST)
    if not isinstance(cost, Decimal):
        return None
    counts = []
    for native, fallback in (
        ("native_tokens_prompt", "tokens_prompt"),
        ("native_tokens_completion", "tokens_completion"),
        ("native_tokens_reasoning", None),
        ("native_tokens_cached", None),
    ):
        value = data.get(native)
        count = as_count(data.get(fallback) if value is None and fallback else value)
        if count is None:
            return None
        counts.append(count)
    prompt, completion, reasoning, cached = counts
    provider = data.get("provider_name")
    return Billed(
        cost,
        prompt,
        completion,
        min(reasoning, completion),
        min(cached, prompt),
        provider[:100] if isinstance(provider, str) else "",
    )


def generation_fetch(client: httpx.Client, generation_id: str) -> tuple[Billed | None, str]:
    """(what OpenRouter billed, "") or (None, why not: "404" while the stats are not ready)."""
    secret = settings.OPENROUTER_API_KEY
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    try:
        response = client.get(
            f"{settings.OPENROUTER_BASE_URL}/generation", params={"id": generation_id}, headers=headers
        )
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    if response.status_code != 200:
        return None, str(response.status_code)
    try:
        billed = billed_of(response.json().get("data"))
    except (ValueError, AttributeError):
        billed = None
    return (billed, "") if billed is not None else (None, "unreadable stats")


def ledger_reconcile(
    *, now: datetime | None = None, transport: httpx.BaseTransport | None = None
) -> ReconcileResult:
    """Ask about every estimated row that is due (oldest first, BATCH at most) and settle what is known."""
    now = now or timezone.now()
    rows = (
        LedgerEntry.objects.filter(cost_state=ESTIMATED)
        .select_related("api_key", "price_version")
        .order_by("created_at", "id")[:BATCH]
    )
    due = [row for row in rows if now >= reconcile_due(created_at=row.created_at, tries=_tries(row))]
    reconciled = unreconciled = waiting = 0
    hours: set[datetime] = set()
    if due:
        with httpx.Client(transport=transport, timeout=TIMEOUT, follow_redirects=False) as client:
            for row in due:
                billed, failure = (None, "no generation id")
                if row.generation_id:
                    billed, failure = generation_fetch(client, row.generation_id)
                if billed is not None:
                    if _reconcile(row, billed, now):
                        reconciled += 1
                        hours.add(floor_hour(row.created_at))
                elif _tries(row) + 1 >= settings.LEDGER_RECONCILE_TRIES or not row.generation_id:
                    unreconciled += _give_up(row, failure, now)
                else:
                    waiting += _wait(row, failure)
    rebuilt = _rebuild_rollups(hours)
    if due:
        logger.info(
            "reconcile: %d reconciled, %d unreconciled, %d waiting, %d rollup hours rebuilt",
            reconciled,
            unreconciled,
            waiting,
            rebuilt,
        )
    return ReconcileResult(reconciled, unreconciled, waiting, rebuilt)


def _tries(row: LedgerEntry) -> int:
    state = row.meta.get("reconcile") if isinstance(row.meta, dict) else None
    tries = state.get("tries") if isinstance(state, dict) else None
    return tries if isinstance(tries, int) else 0


def _note(row: LedgerEntry, last: str) -> dict:
    meta = dict(row.meta) if isinstance(row.meta, dict) else {}
    meta["reconcile"] = {"tries": _tries(row) + 1, "last": last}
    return meta


def _reconcile(row: LedgerEntry, billed: Billed, now: datetime) -> bool:
    estimate = row.spent_cost or Decimal(0)
    row.reported_cost = billed.cost
    row.prompt_tokens, row.completion_tokens = billed.prompt_tokens, billed.completion_tokens
    row.reasoning_tokens, row.cached_tokens = billed.reasoning_tokens, billed.cached_tokens
    row.provider = row.provider or billed.provider
    if row.price_version is not None:
        prices = row.price_version.prices_at(row.prompt_tokens, row.created_at)
        row.cache_savings = cache_savings(row.cached_tokens, prices)
        row.computed_cost = computed_cost(
            prices,
            prompt_tokens=row.prompt_tokens,
            cached_tokens=min(row.cached_tokens, row.prompt_tokens),
            cache_write_tokens=row.cache_write_tokens,
            cache_write_1h_tokens=row.cache_write_1h_tokens,
            completion_tokens=row.completion_tokens,
            reasoning_tokens=row.reasoning_tokens,
            web_search_requests=row.web_search_requests,
        )
    row.cost_state = LedgerEntry.CostState.RECONCILED
    meta = _note(row, "ok")
    meta["reconcile"]["estimate"] = format(estimate.normalize(), "f")
    meta["usage"] = "reconciled from OpenRouter's generation stats"
    row.meta = meta
    correction = spent_cost(row.reported_cost, row.computed_cost) - estimate
    return _settle(row, correction, now)


def _give_up(row: LedgerEntry, failure: str, now: datetime) -> int:
    row.cost_state = LedgerEntry.CostState.UNRECONCILED
    row.meta = _note(row, failure)
    return int(_settle(row, Decimal(0), now))


def _wait(row: LedgerEntry, failure: str) -> int:
    return LedgerEntry.objects.filter(pk=row.pk, cost_state=ESTIMATED).update(meta=_note(row, failure))


def _settle(row: LedgerEntry, correction: Decimal, now: datetime) -> bool:
    """Write the row (if no other run did) and settle its key's counters in the same go."""
    fields = {name: getattr(row, name) for name in UPDATED}
    key = row.api_key
    window = None if key is None else budget_window(key.budget_period, row.created_at)
    redis_url = settings.REDIS_URL
    with transaction.atomic():
        if not LedgerEntry.objects.filter(pk=row.pk, cost_state=ESTIMATED).update(**fields):
            return False
        if window is not None and not redis_url:
            key_counters_settle(
                key_id=key.pk,
                now=now,
                minute=0,
                tokens=0,
                budget_window=window,
                reservation=row.request_id or "",
                cost=signed_nano(correction),
                forget_old_minutes=False,
            )
    if window is not None and redis_url:
        _settle_redis(redis_url, key.pk, window, row.request_id or "", signed_nano(correction), now)
    return True


def _settle_redis(url: str, key_id: int, window: str, reservation: str, cost: int, now: datetime) -> None:
    prefix = settings.GATEWAY_REDIS_PREFIX
    args = settle_args(
        prefix,
        key_id,
        window,
        minute=0,
        tokens=0,
        budgeted=True,
        reservation=reservation,
        cost=cost,
        hold_until=None,
        now=now,
    )
    client = redis.Redis.from_url(url)
    try:
        client.register_script(SETTLE)(args=args)
    finally:
        client.close()


def _rebuild_rollups(hours: set[datetime]) -> int:
    """Rebuild the rolled-up hours among `hours` (later ones are read from the raw ledger anyway)."""
    rebuilt = 0
    for hour in sorted(hours):
        with transaction.atomic():
            # The rollup state row is the lock rollup_catch_up takes: one rebuild at a time.
            state = RollupState.objects.select_for_update().filter(name=ROLLUP_STATE_NAME).first()
            if state is None or state.complete_until is None or hour >= state.complete_until:
                continue
            rollup_rebuild(start=hour, end=hour + HOUR)
            rebuilt += 1
    return rebuilt
