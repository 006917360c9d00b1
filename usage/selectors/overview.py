"""The home page's figures: spend, requests and error rate for today, 7 and 30 days, each against the period
before; the top models and keys of the last 30 days; the keys whose budget runs out before it resets.

Read like /spend/ reads them (usage.selectors.spend): whole days from the daily rollups, other rolled-up
hours from the hourly ones, the rest from the raw ledger, of the keys `user` may see
(usage.selectors.visibility). The periods are /spend/'s ranges (usage.forms.RangeForm.period), so every
figure equals the one on the page it links to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from usage.models import ApiKey
from usage.selectors.keys import KeyRow, keys_overview
from usage.selectors.spend import Group, Totals, _grouped, _parts, _Rows

TOP = 5  # models and keys listed on the home page


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """One of /spend/'s ranges ("today", "7d", "30d"), and the same span a step (1, 7 or 30 days) back."""

    name: str
    label: str
    start: datetime
    end: datetime
    totals: Totals
    previous: Totals

    @property
    def cost_change(self) -> Decimal | None:
        """The change of spend against the period before, as a share (None: nothing spent before)."""
        before = self.previous.cost
        return (self.totals.cost - before) / before if before else None


@dataclass(frozen=True, slots=True)
class Overview:
    periods: list[PeriodFigures]
    top_models: list[Group]  # of the 30 days' spend
    top_keys: list[Group]
    models_used: list[str]  # every model with requests in the 30 days
    running_out: list[KeyRow]  # active keys whose budget runs out before the period resets, soonest first


@dataclass(frozen=True, slots=True)
class Span:
    name: str  # the /spend/ range
    label: str
    start: datetime
    end: datetime
    step: timedelta  # the period before is [start - step, end - step)


def _totals(rows: _Rows, *, start: datetime, end: datetime) -> Totals:
    totals = Totals()
    for part in _parts(start=start, end=end):
        for row in _grouped(part, rows, dims=("status",)):
            totals.add(row)
    return totals


def _groups(rows: _Rows, *, start: datetime, end: datetime, dim: str) -> tuple[Totals, list[Group]]:
    totals = Totals()
    groups: dict[object, Group] = {}
    for part in _parts(start=start, end=end):
        for row in _grouped(part, rows, dims=(dim, "status")):
            totals.add(row)
            value = row[dim]
            group = groups.get(value)
            if group is None:
                group = groups[value] = Group(key=value, label=str(value or ""))
            group.totals.add(row)
    ordered = sorted(groups.values(), key=lambda g: (-g.totals.cost, -g.totals.requests, g.label))
    for group in ordered:
        group.share = group.totals.cost / totals.cost if totals.cost else None
    return totals, ordered


def spend_overview(*, user, spans: list[Span], now: datetime) -> Overview:
    """The figures of each span (the last one, the longest, also gives the top models and keys)."""
    rows = _Rows.visible_to(user)
    periods = []
    models: list[Group] = []
    keys: list[Group] = []
    for index, span in enumerate(spans):
        if index == len(spans) - 1:
            totals, models = _groups(rows, start=span.start, end=span.end, dim="model")
            _, keys = _groups(rows, start=span.start, end=span.end, dim="api_key_id")
        else:
            totals = _totals(rows, start=span.start, end=span.end)
        previous = _totals(rows, start=span.start - span.step, end=span.end - span.step)
        periods.append(PeriodFigures(span.name, span.label, span.start, span.end, totals, previous))
    for group in models:
        group.label = group.key or "(unknown model)"
    names = {key.id: str(key) for key in ApiKey.objects.filter(id__in=[g.key for g in keys if g.key])}
    for group in keys:
        group.label = names.get(group.key, "(no key)")
    running_out = [
        row for row in keys_overview(user=user, now=now) if row.is_active and row.runs_out_at is not None
    ]
    running_out.sort(key=lambda row: (row.runs_out_at, row.key.name))
    return Overview(
        periods=periods,
        top_models=models[:TOP],
        top_keys=keys[:TOP],
        models_used=[group.key for group in models if group.key],
        running_out=running_out,
    )
