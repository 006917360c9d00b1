"""The spend pages and their CSV exports: totals, by model / key / provider / endpoint, the chart (all of
them for one endpoint, or every endpoint). Totals for other readers (budgets, alerts, usage order):
usage.selectors.spend_totals.

Aggregates come from daily rollups for whole days, hourly rollups for the other hours rolled up and the raw
ledger for the rest (the current hour, or more if the rollup task lags), so figures are exact and pages
stay fast at millions of rows. Who sees what: usage.selectors.visibility.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour

from usage.charts import ChartRow, ChartTable
from usage.models import ApiKey, DailyRollup, HourlyRollup, LedgerEntry
from usage.selectors.rollups import (
    AGGREGATE_FIELDS,
    HOUR,
    ceil_day,
    floor_day,
    ledger_grouped,
    rollups_complete_until,
)
from usage.selectors.visibility import visible_ledger, visible_rollups

ZERO = Decimal(0)


TOP_MODELS = 6  # series of the spend chart; the rest is "other"


HOURLY_CHART_MAX = timedelta(days=2)  # longer ranges are charted per day


# Reported and computed costs "disagree" when they differ by more than this share of the larger one.
COST_MISMATCH_SHARE = Decimal("0.01")


FAILED_STATUSES = {LedgerEntry.Status.ERROR, LedgerEntry.Status.REJECTED}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Totals:
    """Sums over ledger rows; tokens by category as the spend page shows them."""

    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0  # of which one-hour writes
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    reported_cost: Decimal = ZERO
    computed_cost: Decimal = ZERO
    cost: Decimal = ZERO
    cache_savings: Decimal = ZERO
    response_cache_saved: Decimal = ZERO
    latency_ms_sum: int = 0

    def add(self, row: dict) -> None:
        for name in AGGREGATE_FIELDS:
            setattr(self, name, getattr(self, name) + (row[name] or 0))
        if row.get("status") in FAILED_STATUSES:
            self.failed += row["requests"]

    @property
    def input_tokens(self) -> int:
        """Input tokens neither read from nor written to the cache (the input price applies)."""
        return max(self.prompt_tokens - self.cached_tokens - self.cache_write_tokens, 0)

    @property
    def output_tokens(self) -> int:
        """Output tokens other than reasoning (reasoning is part of completion tokens)."""
        return self.completion_tokens - self.reasoning_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def error_rate(self) -> Decimal | None:
        return Decimal(self.failed) / self.requests if self.requests else None

    @property
    def avg_latency_ms(self) -> int | None:
        return round(self.latency_ms_sum / self.requests) if self.requests else None

    @property
    def cost_difference(self) -> Decimal:
        return self.reported_cost - self.computed_cost

    @property
    def costs_disagree(self) -> bool:
        return costs_disagree(self.reported_cost, self.computed_cost)


def costs_disagree(reported: Decimal, computed: Decimal) -> bool:
    return abs(reported - computed) > COST_MISMATCH_SHARE * max(abs(reported), abs(computed))


@dataclass
class Group:
    key: object  # model name, provider, endpoint, or api key id
    label: str
    totals: Totals = field(default_factory=Totals)
    share: Decimal | None = None  # of the range's total cost


@dataclass
class SpendReport:
    start: datetime
    end: datetime
    totals: Totals
    by_model: list[Group]
    by_key: list[Group]
    by_provider: list[Group]
    by_endpoint: list[Group]
    chart: dict
    chart_table: ChartTable  # the chart's figures, shown in its place without JavaScript
    granularity: str  # "hour" or "day"


@dataclass(frozen=True)
class _Part:
    """A slice of a time range and where its figures come from: daily / hourly rollups or the raw ledger."""

    kind: str  # "day", "hour" or "raw"
    start: datetime
    end: datetime


def _parts(*, start: datetime, end: datetime, use_days: bool = True, complete_until=...) -> list[_Part]:
    """Whole days from daily rollups, other rolled-up hours from hourly rollups, the rest from the ledger
    (`complete_until`: rollups_complete_until(), when the caller has read it already)."""
    if complete_until is ...:
        complete_until = rollups_complete_until()
    split = start if complete_until is None else min(max(start, complete_until), end)
    parts = []
    if split > start:
        first_day, last_day = ceil_day(start), floor_day(split)
        if use_days and last_day > first_day:
            if first_day > start:
                parts.append(_Part("hour", start, first_day))
            parts.append(_Part("day", first_day, last_day))
            if split > last_day:
                parts.append(_Part("hour", last_day, split))
        else:
            parts.append(_Part("hour", start, split))
    if split < end:
        parts.append(_Part("raw", split, end))
    return parts


ROLLUP_SUMS = {name: Sum(name) for name in AGGREGATE_FIELDS}


@dataclass(frozen=True)
class _Rows:
    """Where the figures come from: ledger rows, hourly and daily rollups (of the keys one may see)."""

    ledger: QuerySet
    hourly: QuerySet
    daily: QuerySet

    @classmethod
    def visible_to(cls, user, endpoint: str = "") -> _Rows:
        """What `user` may see; of one endpoint only, when given."""
        rows = cls(
            visible_ledger(user=user),
            visible_rollups(user=user),
            visible_rollups(user=user, model=DailyRollup),
        )
        if not endpoint:
            return rows
        return cls(
            *(queryset.filter(endpoint=endpoint) for queryset in (rows.ledger, rows.hourly, rows.daily))
        )

    @classmethod
    def of_keys(cls, key_ids: list[int]) -> _Rows:
        return cls(
            LedgerEntry.objects.filter(api_key_id__in=key_ids),
            HourlyRollup.objects.filter(api_key_id__in=key_ids),
            DailyRollup.objects.filter(api_key_id__in=key_ids),
        )


def _grouped(part: _Part, rows: _Rows, *, dims: tuple[str, ...], bucket=None, sums=None) -> QuerySet:
    """Sums over one part grouped by `dims` (api_key_id, endpoint, model, provider, status) and an optional
    bucket ("hour" or "day") of the chart; every aggregate, or only the `sums` named (each a Decimal read and
    converted per row: the alerts' thousands of rows want one)."""
    if part.kind == "raw":
        entries = rows.ledger.filter(created_at__gte=part.start, created_at__lt=part.end)
        extra = {}
        if bucket is not None:
            extra["bucket"] = (TruncDay if bucket == "day" else TruncHour)("created_at")
        return ledger_grouped(entries, *dims, sums=sums, **extra)
    if part.kind == "day":
        rollups = rows.daily.filter(day__gte=part.start, day__lt=part.end)
        time_field = "day"
    else:
        rollups = rows.hourly.filter(hour__gte=part.start, hour__lt=part.end)
        time_field = "hour"
    if bucket is not None:
        trunc = F(time_field) if bucket == time_field else TruncDay(time_field)
        rollups = rollups.annotate(bucket=trunc)
        dims = ("bucket", *dims)
    aggregates = ROLLUP_SUMS if sums is None else {name: ROLLUP_SUMS[name] for name in sums}
    return rollups.values(*dims).annotate(**aggregates).order_by()


def spend_report(*, user, start: datetime, end: datetime, endpoint: str = "") -> SpendReport:
    """The range's figures that `user` may see, of one endpoint only when `endpoint` is given."""
    daily = end - start > HOURLY_CHART_MAX
    totals = Totals()
    groups: dict[str, dict] = {"model": {}, "api_key_id": {}, "provider": {}, "endpoint": {}}
    series: dict[tuple[datetime, str], Decimal] = defaultdict(Decimal)
    bucket = "day" if daily else "hour"

    def add(kind: str, row: dict) -> None:
        value = row[kind]
        group = groups[kind].get(value)
        if group is None:
            group = groups[kind][value] = Group(key=value, label=str(value or ""))
        group.totals.add(row)

    rows = _Rows.visible_to(user, endpoint)
    for part in _parts(start=start, end=end, use_days=daily):
        if part.kind == "raw":
            # A few hours of raw rows: one scan, grouped by everything, folded here.
            dims = ("api_key_id", "endpoint", "model", "provider", "status")
            for row in _grouped(part, rows, dims=dims, bucket=bucket):
                totals.add(row)
                for kind in groups:
                    add(kind, row)
                series[(row["bucket"], row["model"])] += row["cost"]
            continue
        # Rollups: the database groups per table, so only a few rows come back whatever the range.
        for kind in groups:
            for row in _grouped(part, rows, dims=(kind, "status")):
                if kind == "model":
                    totals.add(row)
                add(kind, row)
        for row in _grouped(part, rows, dims=("model",), bucket=bucket):
            series[(row["bucket"], row["model"])] += row["cost"]
    groups["key"] = groups.pop("api_key_id")

    key_names = {
        key.id: str(key) for key in ApiKey.objects.filter(id__in=[k for k in groups["key"] if k is not None])
    }
    for group in groups["key"].values():
        group.label = key_names.get(group.key, "(no key)")
    for group in groups["model"].values():
        group.label = group.key or "(unknown model)"
    for group in groups["provider"].values():
        group.label = group.key or "(no provider)"
    for group in groups["endpoint"].values():
        group.label = group.key or "(not recorded)"  # hours rolled up before rollups had the endpoint
    ordered = {}
    for kind, by_value in groups.items():
        rows = sorted(by_value.values(), key=lambda g: (-g.totals.cost, -g.totals.requests, g.label))
        for group in rows:
            group.share = group.totals.cost / totals.cost if totals.cost else None
        ordered[kind] = rows
    chart, chart_table = _chart(start=start, end=end, daily=daily, series=series, models=ordered["model"])
    return SpendReport(
        start=start,
        end=end,
        totals=totals,
        by_model=ordered["model"],
        by_key=ordered["key"],
        by_provider=ordered["provider"],
        by_endpoint=ordered["endpoint"],
        chart=chart,
        chart_table=chart_table,
        granularity="day" if daily else "hour",
    )


def _chart(*, start, end, daily: bool, series: dict, models: list[Group]) -> tuple[dict, ChartTable]:
    """The chart's data for spend.js, and the same figures as the table shown without JavaScript."""
    step = timedelta(days=1) if daily else HOUR
    first = start.replace(hour=0, minute=0, second=0, microsecond=0) if daily else start
    buckets = []
    moment = first
    while moment < end:
        buckets.append(moment)
        moment += step
    top = [group.key for group in models[:TOP_MODELS] if group.totals.cost]
    others = {group.key for group in models} - set(top)
    columns = [(name or "(unknown model)", [series.get((b, name), ZERO) for b in buckets]) for name in top]
    if others:
        amounts = [sum((series.get((b, name), ZERO) for name in others), ZERO) for b in buckets]
        if any(amounts):
            columns.append(("other models", amounts))
    fmt = "%Y-%m-%d" if daily else "%Y-%m-%d %H:00"
    labels = [b.strftime(fmt) for b in buckets]
    chart = {
        "labels": labels,
        "datasets": [{"label": label, "data": [_plain(v) for v in amounts]} for label, amounts in columns],
        "unit": "day" if daily else "hour",
    }
    table = ChartTable(
        caption=f"Spend per {chart['unit']} by model (USD)",
        head=("Day (UTC)" if daily else "Hour (UTC)", *(label for label, _ in columns)),
        rows=tuple(
            ChartRow(label, tuple(amounts[i] for _, amounts in columns)) for i, label in enumerate(labels)
        ),
        money=True,
    )
    return chart, table


def _plain(value: Decimal) -> str:
    """A Decimal for JSON without exponent or trailing zeros: the same figure always reads the same."""
    return format(value.normalize(), "f") if value else "0"


def spend_groups(*, user, start: datetime, end: datetime, group: str, endpoint: str = "") -> list[Group]:
    """One of the spend page's tables (group = "model", "key", "provider" or "endpoint")."""
    report = spend_report(user=user, start=start, end=end, endpoint=endpoint)
    tables = {"model": report.by_model, "key": report.by_key, "provider": report.by_provider}
    return {**tables, "endpoint": report.by_endpoint}[group]


@dataclass(frozen=True, slots=True)
class EstimatedCosts:
    """Rows of a range whose cost is an estimate (cancelled, broken or interrupted requests)."""

    pending: int  # awaiting reconciliation with OpenRouter's generation stats
    unreconciled: int  # the estimate stands (the stats never came, or another upstream)


def estimated_costs(*, user, start: datetime, end: datetime, endpoint: str = "") -> EstimatedCosts:
    """How many of the rows `user` sees in [start, end) (of `endpoint`, when given) have an estimated
    cost, by state (a count per state: each reads its own small partial index)."""
    rows = visible_ledger(user=user).filter(created_at__gte=start, created_at__lt=end)
    if endpoint:
        rows = rows.filter(endpoint=endpoint)
    states = LedgerEntry.CostState
    return EstimatedCosts(
        rows.filter(cost_state=states.ESTIMATED).count(),
        rows.filter(cost_state=states.UNRECONCILED).count(),
    )
