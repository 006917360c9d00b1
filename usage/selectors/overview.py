"""The home page's figures: spend, requests and error rate for today, 7 and 30 days, each against the period
before; the top models and keys of the last 30 days; the keys whose budget runs out before it resets.

Read like /spend/ reads them (usage.selectors.spend): whole days from the daily rollups, other rolled-up
hours from the hourly ones, the rest from the raw ledger, of the keys `user` may see
(usage.selectors.visibility). The periods are /spend/'s ranges (usage.forms.RangeForm.period), so every
figure equals the one on the page it links to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncHour

from usage.costs import SPENT_COST
from usage.models import ApiKey
from usage.selectors.keys import KeyRow, keys_overview
from usage.selectors.ledger import MODEL_NAME
from usage.selectors.rollups import DAY, ceil_day, floor_day, rollups_complete_until
from usage.selectors.spend import FAILED_STATUSES, ZERO, _parts, _Rows

TOP = 5  # models and keys listed on the home page


@dataclass(slots=True)
class Figures:
    """What the home page shows of ledger rows: spend (reported cost, else computed), requests, failed."""

    cost: Decimal = ZERO
    requests: int = 0
    failed: int = 0  # errors and rejections

    def add(self, row: dict) -> None:
        self.cost += row["cost"] or ZERO
        self.requests += row["requests"] or 0
        if row["status"] in FAILED_STATUSES:
            self.failed += row["requests"] or 0

    def plus(self, other: Figures) -> None:
        self.cost += other.cost
        self.requests += other.requests
        self.failed += other.failed

    @property
    def error_rate(self) -> Decimal | None:
        return Decimal(self.failed) / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """One of /spend/'s ranges ("today", "7d", "30d"), and the same span a step (1, 7 or 30 days) back."""

    name: str
    label: str
    start: datetime
    end: datetime
    totals: Figures
    previous: Figures

    @property
    def cost_change(self) -> Decimal | None:
        """The change of spend against the period before, as a share (None: nothing spent before)."""
        before = self.previous.cost
        return (self.totals.cost - before) / before if before else None


@dataclass(slots=True)
class Ranked:
    """A model or a key, with its figures and its share of the spend."""

    key: object  # model name or api key id
    label: str
    totals: Figures = field(default_factory=Figures)
    share: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Overview:
    periods: list[PeriodFigures]
    top_models: list[Ranked]  # of the longest span
    top_keys: list[Ranked]
    models_used: list[str]  # every model with requests in the longest span
    running_out: list[KeyRow]  # active keys whose budget runs out before the period resets, soonest first


@dataclass(frozen=True, slots=True)
class Span:
    name: str  # the /spend/ range
    label: str
    start: datetime
    end: datetime
    step: timedelta  # the period before is [start - step, end - step)


# Only the sums the home page shows: a rollup row holds fourteen, and summing them all costs 5x as much.
ROLLUP_FIGURES = {"cost": Coalesce(Sum("cost"), ZERO), "requests": Coalesce(Sum("requests"), 0)}
LEDGER_FIGURES = {"cost": Coalesce(Sum(SPENT_COST), ZERO), "requests": Count("id")}


def _window_totals(rows: _Rows, windows: list[tuple[datetime, datetime]], *, now: datetime) -> list[Figures]:
    """Figures of each window [start, end), from three queries whatever the windows: days from the daily
    rollups, the hours of the days a window starts or ends inside (and today's) from the hourly ones, the
    rest from the raw ledger. Like /spend/, a window ending inside a rolled-up hour counts that whole hour."""
    earliest = min(start for start, _ in windows)
    complete = rollups_complete_until()
    complete = earliest if complete is None else min(max(complete, earliest), now)
    edges = {moment for window in windows for moment in window if earliest <= moment < complete}
    edges.add(complete)
    split_days = {floor_day(moment) for moment in edges if moment != floor_day(moment)}
    atoms: dict[datetime, Figures] = defaultdict(Figures)  # by start: whole days, hours, raw hours
    if complete > earliest:
        days = rows.daily.filter(day__gte=ceil_day(earliest), day__lt=floor_day(complete))
        for row in days.values("day", "status").annotate(**ROLLUP_FIGURES).order_by():
            if row["day"] not in split_days:
                atoms[row["day"]].add(row)
        if split_days:
            in_split_days = Q()
            for day in split_days:
                in_split_days |= Q(hour__gte=max(day, earliest), hour__lt=min(day + DAY, complete))
            hours = rows.hourly.filter(in_split_days).values("hour", "status")
            for row in hours.annotate(**ROLLUP_FIGURES).order_by():
                atoms[row["hour"]].add(row)
    tail = rows.ledger.filter(created_at__gte=complete, created_at__lt=now).order_by()
    tail = tail.annotate(hour=TruncHour("created_at")).values("hour", "status")
    for row in tail.annotate(**LEDGER_FIGURES).order_by():
        atoms[row["hour"]].add(row)
    result = []
    for start, end in windows:
        totals = Figures()
        for moment, atom in atoms.items():
            if start <= moment < end:
                totals.plus(atom)
        result.append(totals)
    return result


def _part_rows(part, rows: _Rows, dims: tuple[str, ...]):
    """One part's figures grouped by `dims` (as usage.selectors.spend._grouped, with only our sums)."""
    if part.kind == "raw":
        entries = rows.ledger.filter(created_at__gte=part.start, created_at__lt=part.end).order_by()
        return entries.annotate(model=MODEL_NAME).values(*dims).annotate(**LEDGER_FIGURES).order_by()
    if part.kind == "day":
        rollups = rows.daily.filter(day__gte=part.start, day__lt=part.end)
    else:
        rollups = rows.hourly.filter(hour__gte=part.start, hour__lt=part.end)
    return rollups.values(*dims).annotate(**ROLLUP_FIGURES).order_by()


def _ranked(rows: _Rows, *, start: datetime, end: datetime) -> tuple[list[Ranked], list[Ranked]]:
    """The models and the keys of [start, end), most spent first (one query per part of the range)."""
    groups: dict[str, dict[object, Ranked]] = {"model": {}, "api_key_id": {}}
    total = ZERO
    for part in _parts(start=start, end=end):
        for row in _part_rows(part, rows, ("model", "api_key_id", "status")):
            total += row["cost"] or ZERO
            for dim, by_value in groups.items():
                value = row[dim]
                ranked = by_value.get(value)
                if ranked is None:
                    ranked = by_value[value] = Ranked(key=value, label=str(value or ""))
                ranked.totals.add(row)
    ordered = []
    for by_value in groups.values():
        listed = sorted(by_value.values(), key=lambda g: (-g.totals.cost, -g.totals.requests, g.label))
        for ranked in listed:
            ranked.share = ranked.totals.cost / total if total else None
        ordered.append(listed)
    return ordered[0], ordered[1]


def spend_overview(*, user, spans: list[Span], now: datetime) -> Overview:
    """The figures of each span (the last one, the longest, also gives the top models and keys)."""
    rows = _Rows.visible_to(user)
    windows = [(span.start, span.end) for span in spans]
    windows += [(span.start - span.step, span.end - span.step) for span in spans]
    sums = _window_totals(rows, windows, now=now)
    periods = [
        PeriodFigures(span.name, span.label, span.start, span.end, sums[index], sums[len(spans) + index])
        for index, span in enumerate(spans)
    ]
    models, keys = _ranked(rows, start=spans[-1].start, end=spans[-1].end)
    for group in models:
        group.label = group.key or "(unknown model)"
    names = {key.id: str(key) for key in ApiKey.objects.filter(id__in=[g.key for g in keys if g.key])}
    for group in keys:
        group.label = names.get(group.key, "(no key)")
    running_out = [
        row
        for row in keys_overview(user=user, now=now, budgeted_only=True)
        if row.is_active and row.runs_out_at is not None
    ]
    running_out.sort(key=lambda row: (row.runs_out_at, row.key.name))
    return Overview(
        periods=periods,
        top_models=models[:TOP],
        top_keys=keys[:TOP],
        models_used=[group.key for group in models if group.key],
        running_out=running_out,
    )
