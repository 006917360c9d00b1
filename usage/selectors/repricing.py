"""Traffic re-priced at other prices: "your traffic on these models" (compare page) and "at today's prices"
(model page).

Each ledger row is priced at the compared price schedule's effective prices for *its* prompt size and *its*
UTC time of day (catalog.price_schedule), without reading the rows into Python: the database sums the rows
grouped by what changes a price, and each group is priced once.

- A prompt-size bucket per threshold of the compared schedules (`prompt_tokens > t`, OpenRouter's strict
  bound): bucket i holds the rows above the i-th threshold and not above the next.
- A time-of-day bucket per window edge of the compared schedules (edges are whole minutes; a window is
  [start, end)): bucket j holds the rows whose UTC minute of the day is in [edge j, edge j+1).

Every row of a group gets the same prices from every compared schedule, and the cost is linear in the token
counts, so pricing a group's sums gives exactly the sum of the rows' costs (usage.costs.computed_cost, row by
row: the per-row clamps are summed in SQL). Without a threshold or an edge there is one group.

Raw rows older than the ledger's retention (LEDGER_RETENTION_DAYS, usage.services.rollups.ledger_prune) are
gone: those hours are read from the hourly rollups instead, each priced at its hour's time of day, with its
average prompt size per request choosing the tier (the rollups keep no single request's size).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, F, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, ExtractHour, ExtractMinute, Greatest, Least

from catalog.price_schedule import MINUTES_PER_DAY, PriceSchedule
from catalog.pricing import Usage, usage_cost
from usage.costs import MONEY, SPENT_COST, ZERO
from usage.models import LedgerEntry
from usage.selectors.ledger import model_is
from usage.selectors.rollups import ceil_hour, floor_hour, rollups_complete_until
from usage.selectors.traffic import TrafficTotals
from usage.selectors.visibility import visible_ledger, visible_rollups

# Rows that reached a model: a request (a per-request price applies).
REACHED = [LedgerEntry.Status.OK, LedgerEntry.Status.CANCELLED, LedgerEntry.Status.INTERRUPTED]


@dataclass(frozen=True, slots=True)
class PriceCuts:
    """Where the compared schedules' prices change: prompt-size thresholds and minutes of the UTC day."""

    thresholds: tuple[int, ...] = ()  # sorted; a row is above t when prompt_tokens > t
    edges: tuple[int, ...] = ()  # sorted minutes in (0, 1440) where a window starts or ends

    @classmethod
    def of(cls, schedules: Sequence[PriceSchedule]) -> PriceCuts:
        thresholds, edges = set(), set()
        for schedule in schedules:
            for override in schedule.overrides:
                if override.unknown:
                    continue  # never applies
                if override.min_prompt_tokens is not None:
                    thresholds.add(int(override.min_prompt_tokens))  # integers: > 2.5 is > 2
                if override.window is not None:
                    edges.update(m for m in override.window if 0 < m < MINUTES_PER_DAY)
        return cls(tuple(sorted(thresholds)), tuple(sorted(edges)))

    @property
    def hourly(self) -> bool:
        """Every window edge is on a whole hour: an hourly rollup row lies in one time bucket."""
        return all(edge % 60 == 0 for edge in self.edges)

    def prompt_tokens_of(self, bucket: int) -> int:
        """A prompt size in the bucket: just above its threshold (bucket 0: none)."""
        return self.thresholds[bucket - 1] + 1 if bucket else 0

    def moment_of(self, bucket: int) -> datetime:
        """A moment in the bucket's span of the day (the time of day is all a schedule reads)."""
        minute = self.edges[bucket - 1] if bucket else 0
        return datetime(2000, 1, 1, minute // 60, minute % 60, tzinfo=UTC)

    def prompt_bucket(self):
        """The prompt-size bucket of a ledger row."""
        if not self.thresholds:
            return Value(0)
        whens = [
            When(prompt_tokens__gt=self.thresholds[i - 1], then=Value(i))
            for i in range(len(self.thresholds), 0, -1)
        ]
        return Case(*whens, default=Value(0))

    def average_bucket(self, *, before: datetime | None):
        """The prompt-size bucket of a rollup row's average request, for hours before `before` (their raw
        rows are pruned); 0 for later hours (their raw rows correct the tier: see traffic_repriced)."""
        if not self.thresholds or before is None:
            return Value(0)
        whens = [
            When(Q(hour__lt=before, prompt_tokens__gt=F("requests") * self.thresholds[i - 1]), then=Value(i))
            for i in range(len(self.thresholds), 0, -1)
        ]
        return Case(*whens, default=Value(0))

    def time_bucket(self, minute_name: str):
        if not self.edges:
            return Value(0)
        whens = [
            When(**{f"{minute_name}__gte": self.edges[i - 1]}, then=Value(i))
            for i in range(len(self.edges), 0, -1)
        ]
        return Case(*whens, default=Value(0))


def _sums(*, entries, requests, cost, last: str) -> dict:
    """Per group: the sums the price arithmetic needs (usage.costs.computed_cost's clamps, per row) and
    the totals the page shows."""
    return {
        "n_entries": Coalesce(entries, 0),
        "n_requests": Coalesce(requests, 0),
        "n_uncached": Coalesce(
            Sum(Greatest(F("prompt_tokens") - F("cached_tokens") - F("cache_write_tokens"), Value(0))), 0
        ),
        "n_prompt": Coalesce(Sum("prompt_tokens"), 0),
        "n_cached": Coalesce(Sum("cached_tokens"), 0),
        "n_write": Coalesce(Sum("cache_write_tokens"), 0),
        "n_write_1h": Coalesce(Sum("cache_write_1h_tokens"), 0),
        "n_write_1h_billed": Coalesce(Sum(Least("cache_write_1h_tokens", "cache_write_tokens")), 0),
        "n_completion": Coalesce(Sum("completion_tokens"), 0),
        "n_reasoning": Coalesce(Sum("reasoning_tokens"), 0),
        "n_reasoning_billed": Coalesce(Sum(Least("reasoning_tokens", "completion_tokens")), 0),
        "n_cost": Coalesce(cost, ZERO, output_field=MONEY),
        "n_last": Max(last),
    }


def _ledger_groups(entries: QuerySet, cuts: PriceCuts) -> list[dict]:
    minute = ExtractHour("created_at", tzinfo=UTC) * 60 + ExtractMinute("created_at", tzinfo=UTC)
    return list(
        entries.order_by()
        .annotate(r_minute=minute)
        .annotate(r_prompt=cuts.prompt_bucket(), r_time=cuts.time_bucket("r_minute"))
        .values("r_prompt", "r_time")
        .annotate(
            n_web=Coalesce(Sum("web_search_requests"), 0),
            **_sums(
                entries=Count("pk"),
                requests=Count("pk", filter=Q(status__in=REACHED)),
                cost=Sum(SPENT_COST),
                last="created_at",
            ),
        )
    )


def _rollup_groups(rollups: QuerySet, cuts: PriceCuts, *, pruned_before: datetime | None) -> list[dict]:
    """Grouped by UTC hour of the day (cheaper than a CASE per row; mapped to time buckets here)."""
    groups = list(
        rollups.order_by()
        .annotate(r_hour=ExtractHour("hour", tzinfo=UTC), r_prompt=cuts.average_bucket(before=pruned_before))
        .values("r_prompt", "r_hour")
        .annotate(
            n_web=Value(0),  # the rollups keep no web-search count
            **_sums(
                entries=Sum("requests"),
                requests=Sum("requests", filter=Q(status__in=REACHED)),
                cost=Sum("cost"),
                last="hour",
            ),
        )
    )
    for group in groups:
        group["r_time"] = bisect_right(cuts.edges, int(group["r_hour"]) * 60)
    return groups


def _usage(group: dict) -> Usage:
    reasoning = group["n_reasoning_billed"]
    return Usage(
        input_tokens=group["n_uncached"] + group["n_cached"] + group["n_write"],
        cached_tokens=group["n_cached"],
        cache_write_tokens=group["n_write"],
        cache_write_1h_tokens=group["n_write_1h_billed"],
        output_tokens=group["n_completion"] - reasoning,
        reasoning_tokens=reasoning,
        requests=group["n_requests"],
        web_searches=group["n_web"],
    )


@dataclass(frozen=True)
class RepricedTraffic:
    totals: TrafficTotals  # what was used (and spent) in the range
    costs: list[Decimal | None]  # the same traffic at each schedule's prices; None: a variable price
    rolled_up_before: datetime | None = None  # raw rows before this moment are pruned: rollups priced them


def raw_rows_since(now: datetime, complete: datetime | None) -> datetime | None:
    """From when on the raw ledger rows are all kept (None: all of them); earlier hours are in the rollups."""
    days = settings.LEDGER_RETENTION_DAYS
    if not days or complete is None:
        return None  # nothing pruned (nothing is pruned before it is rolled up)
    return min(ceil_hour(now - timedelta(days=days)), complete)


def _span(start: datetime | None, end: datetime, field: str) -> Q:
    span = Q(**{f"{field}__lt": end})
    return span if start is None else span & Q(**{f"{field}__gte": start})


def traffic_repriced(
    *,
    user,
    schedules: Sequence[PriceSchedule],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    api_key_id: int | None = None,
    model_id: str | None = None,
) -> RepricedTraffic:
    """The user's visible traffic in [start, end) (optionally of one key, of one model), and what it would
    have cost at each schedule's effective prices, row by row. At most four queries, none reading every row:

    - the whole hours the rollups hold come from the hourly rollups, each priced at its hour's time of day
      (exact when every window edge is on a whole hour; otherwise only pruned hours come from them), at the
      base tier, except hours whose raw rows are pruned: there the average request picks the tier;
    - the raw rows of those hours that the rollups cannot price (above the lowest threshold, or with web
      searches, which the rollups do not count) are read again (indexed) and priced as a correction: their
      own price minus the base tier's price the rollups gave them;
    - the rest of the range (a partial first hour, the hours not rolled up yet) is read raw.
    """
    cuts = PriceCuts.of(schedules)
    end = end or now
    entries, rollups = visible_ledger(user=user), visible_rollups(user=user)
    if api_key_id is not None:
        entries, rollups = entries.filter(api_key_id=api_key_id), rollups.filter(api_key_id=api_key_id)
    if model_id is not None:
        entries, rollups = entries.filter(model_is(model_id)), rollups.filter(model=model_id)
    complete = rollups_complete_until()
    pruned_before = raw_rows_since(now, complete)
    rolled_start = None if start is None else ceil_hour(start)  # whole hours only: a partial one is raw
    rolled_end = None
    if complete is not None and cuts.hourly:
        rolled_end = min(complete, floor_hour(end))
    elif pruned_before is not None:
        rolled_end = min(pruned_before, floor_hour(end))
    if rolled_end is not None and rolled_start is not None and rolled_start >= rolled_end:
        rolled_end = None

    groups: list[dict] = []
    corrections: list[dict] = []
    raw = _span(start, end, "created_at")
    if rolled_end is not None:
        groups += _rollup_groups(
            rollups.filter(_span(rolled_start, rolled_end, "hour")), cuts, pruned_before=pruned_before
        )
        raw &= ~_span(rolled_start, rolled_end, "created_at")
        kept_start = (
            rolled_start if pruned_before is None else max(rolled_start or pruned_before, pruned_before)
        )
        if kept_start is None or kept_start < rolled_end:
            priced_apart = Q(web_search_requests__gt=0)
            if cuts.thresholds:
                priced_apart |= Q(prompt_tokens__gt=cuts.thresholds[0])
            corrections = _ledger_groups(
                entries.filter(_span(kept_start, rolled_end, "created_at") & priced_apart), cuts
            )
    groups += _ledger_groups(entries.filter(raw), cuts)
    # Whether part of the range is past the raw-row retention (the page says how that part is priced).
    rolled_up = (
        pruned_before is not None
        and rolled_end is not None
        and (rolled_start is None or rolled_start < pruned_before)
    )
    return RepricedTraffic(
        totals=_totals(groups, corrections),
        costs=[_cost(schedule, groups, corrections, cuts) for schedule in schedules],
        rolled_up_before=min(pruned_before, rolled_end) if rolled_up else None,
    )


def _cost(schedule: PriceSchedule, groups: list[dict], corrections: list[dict], cuts: PriceCuts):
    total = Decimal(0)
    for group in groups:
        prices = schedule.at(cuts.prompt_tokens_of(group["r_prompt"]), cuts.moment_of(group["r_time"]))
        cost = usage_cost(prices, _usage(group))
        if cost is None:
            return None
        total += cost
    for group in corrections:
        moment = cuts.moment_of(group["r_time"])
        own = usage_cost(schedule.at(cuts.prompt_tokens_of(group["r_prompt"]), moment), _usage(group))
        given = usage_cost(schedule.at(0, moment), replace(_usage(group), web_searches=0))
        if own is None or given is None:
            return None
        total += own - given
    return total


def _totals(groups: list[dict], corrections: list[dict]) -> TrafficTotals:
    totals = TrafficTotals(web_search_requests=sum(g["n_web"] for g in corrections))
    lasts = [g["n_last"] for g in groups if g["n_last"] is not None]
    for g in groups:
        totals = replace(
            totals,
            entries=totals.entries + g["n_entries"],
            requests=totals.requests + g["n_requests"],
            prompt_tokens=totals.prompt_tokens + g["n_prompt"],
            cached_tokens=totals.cached_tokens + g["n_cached"],
            cache_write_tokens=totals.cache_write_tokens + g["n_write"],
            cache_write_1h_tokens=totals.cache_write_1h_tokens + g["n_write_1h"],
            completion_tokens=totals.completion_tokens + g["n_completion"],
            reasoning_tokens=totals.reasoning_tokens + g["n_reasoning"],
            web_search_requests=totals.web_search_requests + g["n_web"],
            cost=totals.cost + Decimal(g["n_cost"]),
        )
    return replace(totals, last_at=max(lasts) if lasts else None)
