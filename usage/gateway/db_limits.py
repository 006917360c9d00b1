"""Limit and budget counters in the database (KeyCounter rows), for gateways without Redis.

Each check is one conditional UPDATE (atomic on SQLite and PostgreSQL, so the checks hold across worker
processes), run in the gateway's database thread: the request is admitted when the UPDATE changed the
row; otherwise a read says why. Same rules as the Redis counters (usage/gateway/limits.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import OperationalError, connection

from usage.gateway.limits import (
    Refusal,
    Ticket,
    _period_id,
    budget_refusal,
    period_start,
    rate_refusal,
    to_nano,
)
from usage.models import KeyCounter

NEEDS_SPEND = object()
ATTEMPTS = 20
STALE = timedelta(minutes=15)

ADMIT_RATE = """UPDATE usage_keycounter SET requests = requests + 1
WHERE api_key_id = %s AND "window" = %s AND (%s = 0 OR requests < %s) AND (%s = 0 OR tokens < %s)"""
# A row untouched for STALE has no live requests in flight (their worker died): its counts are void.
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


def _create(key_id: int, window: str, spent: int = 0) -> None:
    KeyCounter.objects.bulk_create(
        [KeyCounter(api_key_id=key_id, window=window, spent=spent)], ignore_conflicts=True
    )


def _admit(key, now: datetime, ticket: Ticket, spent_from_ledger: int | None):
    """Rates, then budget; NEEDS_SPEND when the budget row is missing (call again with the spend)."""
    now_s = now.timestamp()
    with connection.cursor() as cursor:
        if spent_from_ledger is not None:  # second call: the rates were counted by the first
            _create(key.id, ticket.period, spent_from_ledger)
        elif key.rpm_limit or key.tpm_limit:
            window = f"minute:{int(now_s // 60)}"
            rpm, tpm = key.rpm_limit or 0, key.tpm_limit or 0
            cursor.execute(ADMIT_RATE, [key.id, window, rpm, rpm, tpm, tpm])
            if cursor.rowcount == 0:
                row = KeyCounter.objects.filter(api_key_id=key.id, window=window).first()
                if row is None:
                    _create(key.id, window)
                    cursor.execute(ADMIT_RATE, [key.id, window, rpm, rpm, tpm, tpm])
                if row is not None or cursor.rowcount == 0:
                    row = row or KeyCounter.objects.get(api_key_id=key.id, window=window)
                    return rate_refusal(key, row.requests, row.tokens, now_s) or Refusal(
                        429, "rate_limited", "Rate limit of this key reached", 1
                    )
        if key.budget_usd is None:
            return None
        budget = to_nano(key.budget_usd)
        at = connection.ops.adapt_datetimefield_value(now)
        stale = connection.ops.adapt_datetimefield_value(now - STALE)
        cursor.execute(ADMIT_BUDGET, [stale, stale, at, key.id, ticket.period, budget, stale, stale, budget])
        admitted = cursor.fetchone()
        if admitted is not None:
            ticket.budget = True
            ticket.reserved = int(admitted[0])
            return None
        row = KeyCounter.objects.filter(api_key_id=key.id, window=ticket.period).first()
        if row is None:
            return NEEDS_SPEND
        live = row.changed_at is None or row.changed_at >= now - STALE
        inflight, reserved = (row.inflight, row.reserved) if live else (0, 0)
        return budget_refusal(key, row.spent, reserved, inflight, row.average) or Refusal(
            429, "budget_reserved", "This key's remaining budget is reserved by requests in flight", 1
        )


def _settle(key, ticket: Ticket, cost: Decimal | None, tokens: int, now: datetime) -> None:
    minute = int(now.timestamp() // 60)
    with connection.cursor() as cursor:
        if key.tpm_limit and tokens:
            cursor.execute(SETTLE_TOKENS, [tokens, key.id, f"minute:{minute}"])
        if ticket.budget:
            nano = to_nano(cost)
            has_cost = 0 if cost is None else 1
            at = connection.ops.adapt_datetimefield_value(datetime.now(UTC))
            params = [ticket.reserved, ticket.reserved, nano, has_cost, nano, nano, at, key.id, ticket.period]
            cursor.execute(SETTLE_BUDGET, params)
    if minute % 10 == 0 and (key.rpm_limit or key.tpm_limit):  # now and then, forget minutes long gone
        KeyCounter.objects.filter(api_key_id=key.id, window__startswith="minute:").exclude(
            window__in=[f"minute:{minute}", f"minute:{minute - 1}"]
        ).delete()


class DatabaseLimits:
    def __init__(self, load_spend, in_db) -> None:
        self.load_spend = load_spend  # async (key, since) -> Decimal
        self.in_db = in_db  # async: run a sync function in the gateway's database thread

    async def close(self) -> None:
        return None

    async def run(self, function, *args):
        """In the database thread; a busy database (locked rows or tables) is retried a few times."""
        for attempt in range(ATTEMPTS):
            try:
                return await self.in_db(function, *args)
            except OperationalError:
                if attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.002 * (attempt + 1))
        return None

    async def admit(self, key, now: datetime) -> tuple[Refusal | None, Ticket | None]:
        ticket = Ticket(key.id, _period_id(key, now))
        outcome = await self.run(_admit, key, now, ticket, None)
        if outcome is NEEDS_SPEND:  # first sight of the key in this period: start from the ledger
            spent = to_nano(await self.load_spend(key, period_start(key.budget_period, now)))
            outcome = await self.run(_admit, key, now, ticket, spent)
        if outcome is not None:
            return outcome, None
        return None, ticket

    async def settle(self, key, ticket: Ticket, cost: Decimal | None, tokens: int, now: datetime) -> None:
        if ticket.budget or (key.tpm_limit and tokens):
            await self.run(_settle, key, ticket, cost, tokens, now)
