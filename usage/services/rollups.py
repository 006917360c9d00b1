"""Rollups of the ledger (rebuilt per whole final hour, idempotent, catching up after downtime) and the
ledger's retention. Each rebuild also rebuilds the daily rollups (sums of the hourly ones per UTC day) of
the days it touched. `RollupState.complete_until` is the first hour not rolled up: pages read rollups
before it and the raw ledger from it on, so their totals are exact whatever the rollup task's lag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from usage.models import DailyRollup, HourlyRollup, KeylessRefusal, LedgerEntry, RollupState
from usage.selectors.rollups import (
    AGGREGATE_FIELDS,
    DAY,
    HOUR,
    ROLLUP_STATE_NAME,
    ceil_day,
    final_hours_end,
    floor_day,
    floor_hour,
    ledger_grouped,
    rollups_complete_until,
)
from usage.services.batched import delete_in_batches

logger = logging.getLogger(__name__)


PRUNE_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class RollupResult:
    hours: int  # whole hours rebuilt
    rows: int  # rollup rows written
    complete_until: datetime | None


def rollup_rebuild(*, start: datetime, end: datetime) -> int:
    """Replace the rollups of the whole hours in [start, end) with fresh aggregates of the ledger."""
    start, end = floor_hour(start), floor_hour(end)
    if end <= start:
        return 0
    rows = ledger_grouped(
        LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end),
        "hour",
        "api_key_id",
        "endpoint",
        "model",
        "provider",
        "status",
    )
    with transaction.atomic():
        HourlyRollup.objects.filter(hour__gte=start, hour__lt=end).delete()
        created = HourlyRollup.objects.bulk_create(
            (HourlyRollup(**row) for row in rows.iterator(chunk_size=2000)), batch_size=2000
        )
        _rebuild_days(start=floor_day(start), end=ceil_day(end))
    return len(created)


def _rebuild_days(*, start: datetime, end: datetime) -> None:
    """Daily rollups of the days in [start, end), summed from their hourly rollups."""
    DailyRollup.objects.filter(day__gte=start, day__lt=end).delete()
    rows = (
        HourlyRollup.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(day=TruncDay("hour"))
        .values("day", "api_key_id", "endpoint", "model", "provider", "status")
        .annotate(**{name: Sum(name) for name in AGGREGATE_FIELDS})
        .order_by()
    )
    DailyRollup.objects.bulk_create(
        (DailyRollup(**row) for row in rows.iterator(chunk_size=2000)), batch_size=2000
    )


def rollup_catch_up(*, now: datetime | None = None, since: datetime | None = None) -> RollupResult:
    """Roll up every final hour not rolled up yet (all of them after downtime), a day per transaction.

    `since` rebuilds from that hour on even if it was rolled up already (rows replayed late, a fix).
    Idempotent: running it twice changes nothing.
    """
    now = now or timezone.now()
    end = final_hours_end(now)
    state, _ = RollupState.objects.get_or_create(name=ROLLUP_STATE_NAME)
    start = state.complete_until
    if since is not None:
        start = floor_hour(since) if start is None else min(start, floor_hour(since))
    if start is None:
        first = LedgerEntry.objects.order_by("created_at").values_list("created_at", flat=True).first()
        start = floor_hour(first) if first is not None else end
    hours = rows = 0
    while start < end:
        chunk_end = min(end, floor_day(start) + DAY)  # one transaction per day of ledger
        with transaction.atomic():
            # One catch-up at a time: the state row is the lock (SQLite serialises writers anyway).
            state = RollupState.objects.select_for_update().get(pk=state.pk)
            rows += rollup_rebuild(start=start, end=chunk_end)
            if state.complete_until is None or state.complete_until < chunk_end:
                state.complete_until = chunk_end
                state.save(update_fields=["complete_until"])
        hours += int((chunk_end - start) / HOUR)
        start = chunk_end
    if state.complete_until is None or state.complete_until < end:
        RollupState.objects.filter(pk=state.pk).update(complete_until=end)
    state.refresh_from_db()
    logger.info("rollup: %d hours rebuilt, %d rows, complete until %s", hours, rows, state.complete_until)
    return RollupResult(hours=hours, rows=rows, complete_until=state.complete_until)


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    cutoff: datetime | None


def ledger_prune(
    *, now: datetime | None = None, days: int | None = None, batch_size: int = PRUNE_BATCH_SIZE
) -> PruneResult:
    """Delete raw ledger rows older than `days` (LEDGER_RETENTION_DAYS; 0 keeps all), in batches.

    Rows in hours not rolled up yet are never deleted, so the rollups keep every request.
    """
    days = settings.LEDGER_RETENTION_DAYS if days is None else days
    if days <= 0:
        return PruneResult(deleted=0, cutoff=None)
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    # The counts of refusals without a known key (no ledger rows of their own) are kept as long.
    KeylessRefusal.objects.filter(minute__lt=cutoff).delete()
    complete_until = rollups_complete_until()
    if complete_until is None:
        return PruneResult(deleted=0, cutoff=None)
    cutoff = min(cutoff, complete_until)
    deleted = delete_in_batches(
        LedgerEntry.objects.filter(created_at__lt=cutoff), order=("created_at", "id"), batch_size=batch_size
    )
    logger.info("retention: %d ledger rows older than %s deleted", deleted, cutoff)
    return PruneResult(deleted=deleted, cutoff=cutoff)
