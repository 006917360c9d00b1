"""Limit and budget counters in the database (KeyCounter rows), for gateways without Redis.

Each check is one conditional UPDATE (atomic on SQLite and PostgreSQL, so it holds across worker
processes): the request is admitted when the UPDATE changed the row; otherwise the row's values say why.
Money in integer nanodollars. The gateway turns outcomes into refusals (usage/gateway/limits_db.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from usage.models import KeyCounter

# A row untouched for STALE has no live requests in flight (their worker died): its counts are void.
STALE = timedelta(minutes=15)

ADMIT_RATE = """UPDATE usage_keycounter SET requests = requests + 1
WHERE api_key_id = %s AND "window" = %s AND (%s = 0 OR requests < %s) AND (%s = 0 OR tokens < %s)"""
LIVE = "(changed_at IS NULL OR changed_at >= %s)"
ADMIT_BUDGET = f"""UPDATE usage_keycounter
SET inflight = CASE WHEN {LIVE} THEN inflight ELSE 0 END + 1,
reserved = CASE WHEN {LIVE} THEN reserved ELSE 0 END + COALESCE(average, 0), changed_at = %s
WHERE api_key_id = %s AND "window" = %s AND spent < %s
AND ((average IS NULL AND (inflight = 0 OR NOT {LIVE}))
  OR (average IS NOT NULL AND spent + CASE WHEN {LIVE} THEN reserved ELSE 0 END + average <= %s))
RETURNING COALESCE(average, 0)"""  # noqa: S608 (constant text, no input)
SETTLE_BUDGET = """UPDATE usage_keycounter
SET inflight = CASE WHEN inflight > 0 THEN inflight - 1 ELSE 0 END,
reserved = CASE WHEN reserved > %s THEN reserved - %s ELSE 0 END, spent = spent + %s,
average = CASE WHEN %s = 0 THEN average WHEN average IS NULL THEN %s ELSE (3 * average + %s) / 4 END,
changed_at = %s
WHERE api_key_id = %s AND "window" = %s"""
SETTLE_TOKENS = """UPDATE usage_keycounter SET tokens = tokens + %s WHERE api_key_id = %s AND "window" = %s"""


@dataclass(frozen=True, slots=True)
class RateOutcome:
    admitted: bool
    requests: int = 0  # the minute's counts when refused
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    admitted: bool
    reserved: int = 0  # what this request reserved, when admitted
    # The period's counters when refused (in-flight counts of a stale row are void: 0).
    spent: int = 0
    reserved_total: int = 0
    inflight: int = 0
    average: int | None = None


def _create(key_id: int, window: str, spent: int = 0) -> None:
    KeyCounter.objects.bulk_create(
        [KeyCounter(api_key_id=key_id, window=window, spent=spent)], ignore_conflicts=True
    )


def key_rate_admit(*, key_id: int, window: str, rpm: int, tpm: int) -> RateOutcome:
    """Count one request in the minute `window` unless the key's rpm / tpm (0: none) is reached."""
    params = [key_id, window, rpm, rpm, tpm, tpm]
    with connection.cursor() as cursor:
        cursor.execute(ADMIT_RATE, params)
        if cursor.rowcount:
            return RateOutcome(True)
        row = KeyCounter.objects.filter(api_key_id=key_id, window=window).first()
        if row is None:
            _create(key_id, window)
            cursor.execute(ADMIT_RATE, params)
            if cursor.rowcount:
                return RateOutcome(True)
            row = KeyCounter.objects.get(api_key_id=key_id, window=window)
    return RateOutcome(False, row.requests, row.tokens)


def key_budget_admit(*, key_id: int, window: str, budget: int, now: datetime) -> BudgetOutcome | None:
    """Reserve the key's average cost in its budget `window` if it fits; None when the window has no row yet
    (open it with key_budget_open, from the ledger's spend, then ask again)."""
    at = connection.ops.adapt_datetimefield_value(now)
    stale = connection.ops.adapt_datetimefield_value(now - STALE)
    with connection.cursor() as cursor:
        cursor.execute(ADMIT_BUDGET, [stale, stale, at, key_id, window, budget, stale, stale, budget])
        admitted = cursor.fetchone()
    if admitted is not None:
        return BudgetOutcome(True, reserved=int(admitted[0]))
    row = KeyCounter.objects.filter(api_key_id=key_id, window=window).first()
    if row is None:
        return None
    live = row.changed_at is None or row.changed_at >= now - STALE
    return BudgetOutcome(
        False,
        spent=row.spent,
        reserved_total=row.reserved if live else 0,
        inflight=row.inflight if live else 0,
        average=row.average,
    )


def key_budget_open(*, key_id: int, window: str, spent: int) -> None:
    """The budget window's row, starting from what the ledger says was spent (a no-op if it exists)."""
    _create(key_id, window, spent)


def key_counters_settle(
    *,
    key_id: int,
    now: datetime,  # when it ended
    minute: int,  # the minute its tokens count in
    tokens: int,
    budget_window: str | None,
    reserved: int,
    cost: int | None,
    forget_old_minutes: bool,
) -> None:
    """A request ended: add its tokens to the minute, release its reservation and add its cost to the budget
    window (when it had one), and now and then forget minutes long gone."""
    with connection.cursor() as cursor:
        if tokens:
            cursor.execute(SETTLE_TOKENS, [tokens, key_id, f"minute:{minute}"])
        if budget_window is not None:
            nano = cost or 0
            has_cost = 0 if cost is None else 1
            at = connection.ops.adapt_datetimefield_value(now)
            params = [reserved, reserved, nano, has_cost, nano, nano, at, key_id, budget_window]
            cursor.execute(SETTLE_BUDGET, params)
    if forget_old_minutes:
        KeyCounter.objects.filter(api_key_id=key_id, window__startswith="minute:").exclude(
            window__in=[f"minute:{minute}", f"minute:{minute - 1}"]
        ).delete()
