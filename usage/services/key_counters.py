"""Limit and budget counters in the database, for gateways without Redis: KeyCounter rows (a minute's
requests and tokens; a budget window's spend) and BudgetReservation rows (what each request in flight
holds, until it settles or its own deadline passes).

A rate check is one conditional UPDATE; a budget check is one short transaction that first locks the
window's counter row (an UPDATE, so SQLite and PostgreSQL alike serialise admits of one key), drops the
reservations past their deadline, sums the rest and reserves the request's worst case if it fits.
Atomic across worker processes. Money in integer nanodollars. The gateway turns outcomes into refusals
(usage/gateway/limits_db.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F

from usage.models import BudgetReservation, KeyCounter

ADMIT_RATE = """UPDATE usage_keycounter SET requests = requests + 1
WHERE api_key_id = %s AND "window" = %s AND (%s = 0 OR requests < %s) AND (%s = 0 OR tokens < %s)"""
LOCK_BUDGET = """UPDATE usage_keycounter SET changed_at = %s WHERE api_key_id = %s AND "window" = %s
RETURNING spent"""
SETTLE_TOKENS = """UPDATE usage_keycounter SET tokens = tokens + %s WHERE api_key_id = %s AND "window" = %s"""
# Reservations in plain SQL: the ORM's delete() reads each row before deleting it, and its create() and
# aggregate() cost more than the rest of a limited request (bench/gateway_targets.py, `limited`).
LAPSED = """DELETE FROM usage_budgetreservation WHERE api_key_id = %s AND "window" = %s AND deadline <= %s"""
RESERVED = """SELECT COALESCE(SUM(amount), 0) FROM usage_budgetreservation WHERE api_key_id = %s
AND "window" = %s"""
RESERVE = """INSERT INTO usage_budgetreservation (id, api_key_id, "window", amount, deadline)
VALUES (%s, %s, %s, %s, %s)"""
RELEASE = """DELETE FROM usage_budgetreservation WHERE id = %s"""
ADD_SPENT = """UPDATE usage_keycounter SET spent = spent + %s, changed_at = %s WHERE api_key_id = %s
AND "window" = %s"""


@dataclass(frozen=True, slots=True)
class RateOutcome:
    admitted: bool
    requests: int = 0  # the minute's counts when refused
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    admitted: bool
    spent: int  # the window's spend
    reserved: int  # what the other requests in flight hold


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


def key_budget_admit(
    *, key_id: int, window: str, budget: int, amount: int, reservation: str, deadline: datetime, now: datetime
) -> BudgetOutcome | None:
    """Reserve `amount` of the key's budget `window` for one request until `deadline`, if the spend plus
    the live reservations plus it fit the budget; None when the window has no row yet (open it with
    key_budget_open, from the ledger's spend, then ask again)."""
    at = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(LOCK_BUDGET, [at, key_id, window])
        row = cursor.fetchone()
        if row is None:
            return None
        spent = int(row[0])
        cursor.execute(LAPSED, [key_id, window, at])
        cursor.execute(RESERVED, [key_id, window])
        reserved = int(cursor.fetchone()[0])
        if spent >= budget or spent + reserved + amount > budget:
            return BudgetOutcome(False, spent, reserved)
        if amount > 0:
            until = connection.ops.adapt_datetimefield_value(deadline)
            cursor.execute(RESERVE, [reservation, key_id, window, amount, until])
    return BudgetOutcome(True, spent, reserved)


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
    reservation: str,
    cost: int,
    forget_old_minutes: bool,
    hold_until: datetime | None = None,
    only_if_held: bool = False,
) -> None:
    """A request ended: add its tokens to the minute, drop its reservation and add its cost to the budget
    window (when it had one), and now and then forget minutes long gone. With `hold_until` (its row waits
    for reconciliation) what is left of the reservation after the cost is kept until then instead, so the
    request still holds its worst case in all. With `only_if_held`, the budget is settled only while the
    reservation is held (a journal replay: never twice). A reconciliation settles again with the correction as
    `cost` (usage/services/reconcile.py)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if tokens:
            cursor.execute(SETTLE_TOKENS, [tokens, key_id, f"minute:{minute}"])
        if budget_window is not None:
            if hold_until is None:
                cursor.execute(RELEASE, [reservation])
                held = cursor.rowcount > 0
            else:
                kept = BudgetReservation.objects.filter(pk=reservation)
                held = kept.exists()
                kept.filter(amount__gt=cost).update(amount=F("amount") - cost, deadline=hold_until)
                kept.filter(amount__lte=cost).delete()
            if cost and (held or not only_if_held):
                at = connection.ops.adapt_datetimefield_value(now)
                cursor.execute(ADD_SPENT, [cost, at, key_id, budget_window])
    if forget_old_minutes:
        KeyCounter.objects.filter(api_key_id=key_id, window__startswith="minute:").exclude(
            window__in=[f"minute:{minute}", f"minute:{minute - 1}"]
        ).delete()
