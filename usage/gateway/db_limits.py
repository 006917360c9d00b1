"""Limit and budget counters in the database (KeyCounter rows), for gateways without Redis.

Each admit / settle is one short transaction in the gateway's database thread that locks the key's rows
(SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers), so the checks
hold across worker processes. Same rules as the Redis counters (usage/gateway/limits.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

from django.db import OperationalError, transaction

from usage.gateway.limits import (
    Refusal,
    Ticket,
    _period_id,
    budget_refusal,
    next_average,
    period_start,
    rate_refusal,
    to_nano,
)
from usage.models import KeyCounter

NEEDS_SPEND = object()
ATTEMPTS = 20


def _locked(key_id: int, window: str) -> KeyCounter | None:
    return KeyCounter.objects.select_for_update().filter(api_key_id=key_id, window=window).first()


def _row(key_id: int, window: str, **initial) -> KeyCounter:
    row = _locked(key_id, window)
    if row is None:
        KeyCounter.objects.bulk_create(
            [KeyCounter(api_key_id=key_id, window=window, **initial)], ignore_conflicts=True
        )
        row = _locked(key_id, window)
    return row


def _admit(key, now: datetime, ticket: Ticket, spent_from_ledger: int | None):
    now_s = now.timestamp()
    with transaction.atomic():
        budget_row = None
        if key.budget_usd is not None:
            budget_row = _locked(key.id, ticket.period)
            if budget_row is None:
                if spent_from_ledger is None:
                    return NEEDS_SPEND
                budget_row = _row(key.id, ticket.period, spent=spent_from_ledger)
        rate_row = None
        if key.rpm_limit or key.tpm_limit:
            rate_row = _row(key.id, f"minute:{int(now_s // 60)}")
            refusal = rate_refusal(key, rate_row.requests, rate_row.tokens, now_s)
            if refusal is not None:
                return refusal
        if budget_row is not None:
            row = budget_row
            refusal = budget_refusal(key, row.spent, row.reserved, row.inflight, row.average)
            if refusal is not None:
                return refusal
            ticket.budget = True
            ticket.reserved = row.average or 0
            row.inflight += 1
            row.reserved += ticket.reserved
            row.save(update_fields=["inflight", "reserved"])
        if rate_row is not None:
            rate_row.requests += 1
            rate_row.save(update_fields=["requests"])
    return None


def _settle(key, ticket: Ticket, cost: Decimal | None, tokens: int, now: datetime) -> None:
    minute = int(now.timestamp() // 60)
    with transaction.atomic():
        if key.tpm_limit and tokens:
            row = _row(key.id, f"minute:{minute}")
            row.tokens += tokens
            row.save(update_fields=["tokens"])
        if ticket.budget:
            row = _locked(key.id, ticket.period)
            if row is not None:
                nano = to_nano(cost)
                row.inflight = max(row.inflight - 1, 0)
                row.reserved = max(row.reserved - ticket.reserved, 0)
                row.spent += nano
                if cost is not None:
                    row.average = next_average(row.average, nano)
                row.save(update_fields=["inflight", "reserved", "spent", "average"])
    if minute % 10 == 0:  # now and then, forget minutes long gone
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
