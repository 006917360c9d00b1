"""Repair ledger rows stored before upstream usage was vetted (usage/usage_values.py): costs that are not
finite, negative or above the ceiling, and token counts beyond 2³¹, which made pages, exports and rollups
fail (on SQLite a stored 1e308 cannot even be read back as a Decimal).

Each bad value is set aside the way the gateway now sets it aside: kept as text in the row's
`extra_usage["invalid"]`, its column NULL (costs) or 0 (counts). The rows are found and fixed with plain SQL,
since the ORM cannot read them. The rollups of the hours they touch are then rebuilt. Used by
`manage.py repair_ledger` and by migration 0014 (which leaves the rebuild to the next rollup run:
`rollups_redo_from`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection as default_connection
from django.db import transaction

from usage.models import LedgerEntry, RollupState
from usage.selectors.rollups import ROLLUP_STATE_NAME, floor_hour
from usage.services.rollups import rollup_catch_up
from usage.usage_values import INVALID, MAX_COUNT

TABLE = "usage_ledgerentry"
COSTS = {"reported_cost": "cost", "computed_cost": "computed_cost"}  # column -> its name in `invalid`
COUNTS = ("prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens", "reasoning_tokens")


@dataclass(frozen=True)
class RepairResult:
    rows: int
    since: datetime | None  # the earliest request repaired
    hours: int = 0  # rollup hours rebuilt


def bad_rows_repair(connection, *, max_cost: Decimal) -> list[int]:
    """Fix the bad values of every ledger row in place (plain SQL); the ids of the rows fixed."""
    quote = connection.ops.quote_name
    conditions = [f"{quote(c)} < 0 OR {quote(c)} > %s" for c in COSTS]
    conditions += [f"{quote(c)} > %s" for c in COUNTS]
    params = [str(max_cost)] * len(COSTS) + [MAX_COUNT] * len(COUNTS)
    selected = ", ".join(f"CAST({quote(c)} AS TEXT)" for c in COSTS) + ", " + ", ".join(map(quote, COUNTS))
    json_value = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    fixed = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, CAST(extra_usage AS TEXT), {selected} FROM {TABLE} WHERE "  # noqa: S608 (fixed names)
            + " OR ".join(f"({c})" for c in conditions),
            params,
        )
        for row_id, extra, *values in cursor.fetchall():
            invalid: dict[str, str | int] = {}
            sets: dict[str, object] = {}
            for (column, name), value in zip(COSTS.items(), values[: len(COSTS)], strict=True):
                if value is not None and not _good_cost(value, max_cost):
                    invalid[name], sets[column] = value, None
            for column, value in zip(COUNTS, values[len(COSTS) :], strict=True):
                if value is not None and int(value) > MAX_COUNT:
                    invalid[column], sets[column] = int(value), 0
            if not sets:
                continue
            if "cached_tokens" in sets:
                sets["cache_savings"] = 0  # saved on reads that cannot be counted
            usage = _object(extra)
            usage.setdefault(INVALID, {}).update(invalid)
            assignments = ", ".join(f"{quote(column)} = %s" for column in sets)
            cursor.execute(
                f"UPDATE {TABLE} SET {assignments}, {quote('extra_usage')} = {json_value} WHERE id = %s",  # noqa: S608
                [*sets.values(), json.dumps(usage), row_id],
            )
            fixed.append(row_id)
    return fixed


def ledger_repair(*, max_cost: Decimal | None = None) -> RepairResult:
    """Repair every bad row, then rebuild the rollups from the earliest one on."""
    fixed = bad_rows_repair(default_connection, max_cost=max_cost or settings.GATEWAY_MAX_REQUEST_COST)
    if not fixed:
        return RepairResult(rows=0, since=None)
    since = (
        LedgerEntry.objects.filter(pk__in=fixed)
        .order_by("created_at")
        .values_list("created_at", flat=True)[0]
    )
    result = rollup_catch_up(since=since)
    return RepairResult(rows=len(fixed), since=since, hours=result.hours)


def earliest(ids: list[int], ledger=LedgerEntry) -> datetime:
    return ledger.objects.filter(pk__in=ids).order_by("created_at").values_list("created_at", flat=True)[0]


def rollups_redo_from(since: datetime, state_model=RollupState) -> None:
    """Make the next rollup run rebuild every hour from `since` on (what a migration can do without the
    rollup service)."""
    hour = floor_hour(since)
    state_model.objects.filter(name=ROLLUP_STATE_NAME, complete_until__gt=hour).update(complete_until=hour)


def _good_cost(text: str, ceiling: Decimal) -> bool:
    try:
        value = Decimal(text)
    except ArithmeticError:
        return False
    return value.is_finite() and 0 <= value <= ceiling


def _object(text) -> dict:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
