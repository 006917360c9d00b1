"""Hourly rollups of the ledger (rebuilt per whole hour, idempotent, catching up after downtime), retention.

An hour is rolled up once it is *final*: it ended more than ROLLUP_GRACE ago, so every request that arrived
in it has been written (a stream may run for OPENROUTER_TIMEOUT_SECONDS before its ledger row is written).
`RollupState.complete_until` is the first hour not rolled up; pages read rollups before it and the raw
ledger from it on, so their totals are exact whatever the rollup task's lag. Each rebuild also rebuilds the
daily rollups (sums of the hourly ones per UTC day) of the days it touched, for long ranges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, QuerySet, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, NullIf, TruncDay, TruncHour
from django.utils import timezone

from usage.costs import CACHE_SAVINGS, MONEY, SPENT_COST, ZERO
from usage.models import DailyRollup, HourlyRollup, KeylessRefusal, LedgerEntry, RollupState

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ROLLUP_STATE_NAME = "hourly"
PRUNE_BATCH_SIZE = 10_000

# The rollup's model column: the served model, else the requested one (rejected requests were served none).
MODEL_NAME = Coalesce(NullIf(F("served_model"), Value("")), F("requested_model"))

# What the response cache saved on one ledger row: a `cached` row's meta["saved_cost"] (a decimal string).
RESPONSE_CACHE_SAVED = Case(
    When(status="cached", then=Cast(KT("meta__saved_cost"), output_field=MONEY)),
    default=ZERO,
    output_field=MONEY,
)

# The aggregates a rollup row holds, computable over any ledger queryset (the pages use it for the raw tail).
LEDGER_AGGREGATES = {
    # These two first: later annotations shadow the field names they read (cached_tokens, *_cost).
    "cost": Coalesce(Sum(SPENT_COST), ZERO),  # spent: reported, else computed (usage.costs)
    "cache_savings": Coalesce(Sum(CACHE_SAVINGS), ZERO, output_field=MONEY),  # usage.costs.cache_savings
    "response_cache_saved": Coalesce(Sum(RESPONSE_CACHE_SAVED), ZERO, output_field=MONEY),
    "requests": Count("id"),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "cached_tokens": Coalesce(Sum("cached_tokens"), 0),
    "cache_write_tokens": Coalesce(Sum("cache_write_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "reasoning_tokens": Coalesce(Sum("reasoning_tokens"), 0),
    "reported_cost": Coalesce(Sum("reported_cost"), ZERO, output_field=MONEY),
    "computed_cost": Coalesce(Sum("computed_cost"), ZERO, output_field=MONEY),
    "latency_ms_sum": Coalesce(Sum("latency_ms"), 0),
}
AGGREGATE_FIELDS = tuple(LEDGER_AGGREGATES)


@dataclass(frozen=True)
class RollupResult:
    hours: int  # whole hours rebuilt
    rows: int  # rollup rows written
    complete_until: datetime | None


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_day(moment: datetime) -> datetime:
    day = floor_day(moment)
    return day if day == moment else day + DAY


def rollup_grace() -> timedelta:
    return timedelta(seconds=settings.OPENROUTER_TIMEOUT_SECONDS) + timedelta(minutes=2)


def final_hours_end(now: datetime) -> datetime:
    """The end of the last final hour: every hour before it is complete in the ledger."""
    return floor_hour(now - rollup_grace())


def ledger_grouped(queryset: QuerySet[LedgerEntry], *dimensions: str, **annotations) -> QuerySet:
    """Ledger rows aggregated like rollups, grouped by `hour`, `api_key_id`, `model`, `provider`, `status`
    (and by any extra annotation given, e.g. `bucket=TruncDay("created_at")`)."""
    if "hour" in dimensions:
        annotations["hour"] = TruncHour("created_at")
    if "model" in dimensions:
        annotations["model"] = MODEL_NAME
    dimensions = (*dimensions, *(name for name in annotations if name not in dimensions))
    return (
        queryset.order_by()
        .annotate(**annotations)
        .values(*dimensions)
        .annotate(**LEDGER_AGGREGATES)
        .order_by()
    )


def rollup_rebuild(*, start: datetime, end: datetime) -> int:
    """Replace the rollups of the whole hours in [start, end) with fresh aggregates of the ledger."""
    start, end = floor_hour(start), floor_hour(end)
    if end <= start:
        return 0
    rows = ledger_grouped(
        LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end),
        "hour",
        "api_key_id",
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
        .values("day", "api_key_id", "model", "provider", "status")
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


def rollups_complete_until() -> datetime | None:
    return RollupState.objects.filter(name=ROLLUP_STATE_NAME).values_list("complete_until", flat=True).first()


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
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                LedgerEntry.objects.filter(created_at__lt=cutoff)
                .order_by("created_at", "id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            count, _ = LedgerEntry.objects.filter(id__in=ids).delete()
        deleted += count
    logger.info("retention: %d ledger rows older than %s deleted", deleted, cutoff)
    return PruneResult(deleted=deleted, cutoff=cutoff)
