"""The rollups' shape and their reads: the aggregates a rollup row holds (computable over any ledger rows,
so pages add the raw tail to the rollups), final hours, and how far the rollups are complete.

An hour is rolled up once it is *final*: it ended more than the grace period ago, so every request that
arrived in it has been written (a stream may run for OPENROUTER_TIMEOUT_SECONDS before its row is written).
The writes are in usage.services.rollups.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, Count, QuerySet, Sum, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncHour

from usage.costs import MONEY, SPENT_COST, ZERO
from usage.models import ROLLUP_AGGREGATES, LedgerEntry, RollupState
from usage.selectors.ledger import MODEL_NAME

HOUR = timedelta(hours=1)


DAY = timedelta(days=1)


ROLLUP_STATE_NAME = "hourly"


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
    "cache_savings": Coalesce(Sum("cache_savings"), ZERO, output_field=MONEY),  # usage.costs.cache_savings
    "response_cache_saved": Coalesce(Sum(RESPONSE_CACHE_SAVED), ZERO, output_field=MONEY),
    "requests": Count("id"),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "cached_tokens": Coalesce(Sum("cached_tokens"), 0),
    "cache_write_tokens": Coalesce(Sum("cache_write_tokens"), 0),
    "cache_write_1h_tokens": Coalesce(Sum("cache_write_1h_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "reasoning_tokens": Coalesce(Sum("reasoning_tokens"), 0),
    "reported_cost": Coalesce(Sum("reported_cost"), ZERO, output_field=MONEY),
    "computed_cost": Coalesce(Sum("computed_cost"), ZERO, output_field=MONEY),
    "latency_ms_sum": Coalesce(Sum("latency_ms"), 0),
}


AGGREGATE_FIELDS = ROLLUP_AGGREGATES  # the columns of usage.models.Rollup; LEDGER_AGGREGATES computes each


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    hour = floor_hour(moment)
    return hour if hour == moment else hour + HOUR


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


def ledger_grouped(
    queryset: QuerySet[LedgerEntry], *dimensions: str, sums: tuple[str, ...] | None = None, **annotations
) -> QuerySet:
    """Ledger rows aggregated like rollups, grouped by `hour`, `api_key_id`, `endpoint`, `model`, `provider`,
    `status` (and by any extra annotation given, e.g. `bucket=TruncDay("created_at")`); every aggregate, or
    only the `sums` named."""
    if "hour" in dimensions:
        annotations["hour"] = TruncHour("created_at")
    if "model" in dimensions:
        annotations["model"] = MODEL_NAME
    dimensions = (*dimensions, *(name for name in annotations if name not in dimensions))
    return (
        queryset.order_by()
        .annotate(**annotations)
        .values(*dimensions)
        .annotate(**(LEDGER_AGGREGATES if sums is None else {name: LEDGER_AGGREGATES[name] for name in sums}))
        .order_by()
    )


def rollups_complete_until() -> datetime | None:
    return RollupState.objects.filter(name=ROLLUP_STATE_NAME).values_list("complete_until", flat=True).first()
