"""The home page's figures: spend, requests and error rate for today, 7 and 30 days, each against the period
before; the top models and keys of the last 30 days; the keys whose budget runs out before it resets.

Read like /spend/ reads them (usage.selectors.spend): whole days from the daily rollups, other rolled-up
hours from the hourly ones, the rest from the raw ledger, of the keys `user` may see
(usage.selectors.visibility); of a day a window starts or ends inside, only the smaller side is read from
the hourly rollups, the other being the day's rollup minus it. The periods are /spend/'s ranges
(usage.forms.RangeForm.period), so every figure equals the one on the page it links to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncHour

from usage.costs import SPENT_COST
from usage.models import ApiKey
from usage.selectors.keys import KeyRow, keys_overview
from usage.selectors.ledger import MODEL_NAME
from usage.selectors.rollups import DAY, ceil_hour, floor_day, rollups_complete_until
from usage.selectors.spend import FAILED_STATUSES, ZERO, _Part, _parts, _Rows

TOP = 5  # models and keys listed on the home page


@dataclass(slots=True)
class Figures:
    """What the home page shows of ledger rows: spend (reported cost, else computed), requests, failed."""

    cost: Decimal = ZERO
    requests: int = 0
    failed: int = 0  # errors and rejections

    def add(self, row: dict, sign: int = 1) -> None:
        """Add a row of sums (grouped by status at least); sign -1 takes it away."""
        self.cost += sign * (row["cost"] or ZERO)
        self.requests += sign * (row["requests"] or 0)
        if row["status"] in FAILED_STATUSES:
            self.failed += sign * (row["requests"] or 0)

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
    """Figures of each window [start, end), from three queries whatever the windows: the daily rollups, the
    hourly ones and the raw ledger after `complete_until`.

    Like /spend/, a window starting or ending inside a rolled-up hour takes that hour whole, by its start, so
    the windows part ways at the hours their edges fall in, rounded up: the cuts. A day rolled up whole and
    uncut is its daily rollup. A cut day is read in pieces between its cuts: each piece but the longest from
    the hourly rollups, the longest as the day's rollup minus them (an edge at 02:40 reads the three hours
    before 03:00, one at 21:40 the two after 22:00; never all 24). The day the rollups end in is read hour
    by hour up to that end (its daily rollup grows while the rollup task runs: nothing is taken from it)."""
    earliest = min(start for start, _ in windows)
    complete = rollups_complete_until()
    complete = earliest if complete is None else min(max(complete, earliest), now)
    cuts = {ceil_hour(moment) for window in windows for moment in window}
    first_day = floor_day(earliest)
    days_end = max(floor_day(complete), first_day)  # the days before it are rolled up whole
    atoms: dict[datetime, Figures] = defaultdict(Figures)  # by start: days, pieces of days, hours
    longest: dict[datetime, datetime] = {}  # cut day -> start of its piece taken as the day minus the rest
    hour_spans: list[tuple[datetime, datetime]] = []  # what is read from the hourly rollups
    for day in (first_day + n * DAY for n in range((days_end - first_day) // DAY)):
        bounds = [day, *sorted(cut for cut in cuts if day < cut < day + DAY), day + DAY]
        if len(bounds) > 2:
            pieces = list(pairwise(bounds))
            kept = max(pieces, key=lambda piece: piece[1] - piece[0])
            longest[day] = kept[0]
            hour_spans += [piece for piece in pieces if piece != kept]
    if complete > days_end:
        hour_spans.append((max(days_end, earliest), complete))
    if days_end > first_day:
        days = rows.daily.filter(day__gte=first_day, day__lt=days_end)
        for row in days.values("day", "status").annotate(**ROLLUP_FIGURES).order_by():
            atoms[longest.get(row["day"], row["day"])].add(row)
    if hour_spans:
        in_spans = Q()
        for start, end in hour_spans:
            in_spans |= Q(hour__gte=start, hour__lt=end)
        hours = rows.hourly.filter(in_spans).values("hour", "status")
        for row in hours.annotate(**ROLLUP_FIGURES).order_by():
            atoms[row["hour"]].add(row)
            kept = longest.get(floor_day(row["hour"]))
            if kept is not None:
                atoms[kept].add(row, sign=-1)
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


def _ranked_parts(*, start: datetime, end: datetime) -> list[tuple[_Part, int]]:
    """The parts of [start, end) as /spend/ reads them (usage.selectors.spend._parts), each to add (1); but a
    first day the range starts early in (02:40: three hours before, 21 after) is its daily rollup, read with
    the whole days, minus its hours before `start` (-1): the smaller side of the day is read, never both."""
    parts = _parts(start=start, end=end)
    if len(parts) > 1 and parts[0].kind == "hour" and parts[1].kind == "day":
        day, cut = parts[1].start - DAY, ceil_hour(start)
        if cut - day < day + DAY - cut:
            whole = _Part("day", day, parts[1].end)
            return [(whole, 1), (_Part("hour", day, start), -1), *((part, 1) for part in parts[2:])]
    return [(part, 1) for part in parts]


def _ranked(rows: _Rows, *, start: datetime, end: datetime) -> tuple[list[Ranked], list[Ranked]]:
    """The models and the keys of [start, end), most spent first (one query per part of the range)."""
    groups: dict[str, dict[object, Ranked]] = {"model": {}, "api_key_id": {}}
    total = ZERO
    for part, sign in _ranked_parts(start=start, end=end):
        for row in _part_rows(part, rows, ("model", "api_key_id", "status")):
            total += sign * (row["cost"] or ZERO)
            for dim, by_value in groups.items():
                value = row[dim]
                ranked = by_value.get(value)
                if ranked is None:
                    ranked = by_value[value] = Ranked(key=value, label=str(value or ""))
                ranked.totals.add(row, sign)
    ordered = []
    for by_value in groups.values():
        # A model or key with requests on the first day only before `start` nets out to none.
        listed = [group for group in by_value.values() if group.totals.requests]
        listed.sort(key=lambda g: (-g.totals.cost, -g.totals.requests, g.label))
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
