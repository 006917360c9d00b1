"""Limits and budgets in the database (usage.KeyCounter and usage.BudgetReservation rows,
usage/services/key_counters.py), for gateways without Redis: each check is one short statement or
transaction run through the store, atomic across worker processes. Same rules and refusals as the Redis
counters (limits.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from decimal import Decimal

from usage.gateway.limits import Refusal, Ticket, budget_refusal, period_id, rate_refusal, to_nano
from usage.periods import period_start

ATTEMPTS = 20  # a busy database (locked rows or tables) is tried again this many times


class DatabaseLimits:
    def __init__(self, store, load_spend) -> None:
        self.store = store
        self.load_spend = load_spend  # async (key, since) -> Decimal: the ledger's spend
        self.swept: dict[int, int] = {}  # key id -> the last minute its old minute rows were deleted

    async def close(self) -> None:
        return None

    async def run(self, call, *args):
        for attempt in range(ATTEMPTS):
            try:
                return await call(*args)
            except self.store.Busy:
                if attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.002 * (attempt + 1))
        return None

    async def admit(
        self, key, now: datetime, worst, deadline: datetime, reservation: str | None = None
    ) -> tuple[Refusal | None, Ticket | None]:
        """Count the request in its minute and reserve its worst case (worst_case.WorstCase) until
        `deadline` under the id `reservation` (the row's request id), unless a limit refuses it."""
        rid = reservation or uuid.uuid4().hex
        ticket = Ticket(key.id, period_id(key, now), rid, worst.amount, deadline)
        now_s = now.timestamp()
        rated = bool(key.rpm_limit or key.tpm_limit)
        budget = None if key.budget_usd is None else to_nano(key.budget_usd)
        reserve = (
            None if budget is None else (ticket.period, budget, worst.amount, ticket.reservation, deadline)
        )
        rate, outcome = await self.run(
            self.store.limits_admit, key, f"minute:{int(now_s // 60)}" if rated else None, reserve, now
        )
        if rate is not None and not rate.admitted:
            refused = rate_refusal(key, rate.requests, rate.tokens, now_s)
            return refused or Refusal(429, "rate_limited", "Rate limit of this key reached", 1), None
        if budget is None:
            return None, ticket
        if outcome is None:  # first sight of the key in this period: start from the ledger's spend
            spent = to_nano(await self.load_spend(key, period_start(key.budget_period, now)))
            _, outcome = await self.run(self.store.limits_admit, key, None, reserve, now, spent)
        if outcome.admitted:
            ticket.budget = True
            return None, ticket
        return budget_refusal(key, outcome.spent, outcome.reserved, worst), None

    async def settle(
        self,
        key,
        ticket: Ticket,
        cost: Decimal | None,
        tokens: int,
        now: datetime,
        hold_until: datetime | None = None,
        only_if_held: bool = False,
    ) -> None:
        """As RedisLimits.settle."""
        tokens = tokens if key.tpm_limit else 0
        minute = int(now.timestamp() // 60)
        # Every 10 minutes, the first settle of a rate-limited key deletes its minute rows long gone.
        sweep = minute % 10 == 0 and bool(key.rpm_limit or key.tpm_limit) and self.swept.get(key.id) != minute
        if not (ticket.budget or tokens or sweep):
            return
        if sweep:
            self.swept[key.id] = minute
        await self.run(
            self.store.limits_settle,
            key.id,
            minute,
            tokens,
            ticket.period if ticket.budget else None,
            ticket.reservation,
            to_nano(cost),
            sweep,
            hold_until,
            only_if_held,
        )
