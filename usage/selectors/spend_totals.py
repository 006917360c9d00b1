"""Spend totals for the readers that are not the spend pages: per key for the budgets (/keys/, the home
page, the alerts), per key or model and time bucket for the alerts' spikes, and the models a key used most
(GET /api/v1/models?order=usage). Read as the spend pages read (usage.selectors.spend): whole days from the
daily rollups, other rolled-up hours from the hourly rollups, the rest from the ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, Sum

from usage.costs import SPENT_COST
from usage.models import DailyRollup, HourlyRollup, LedgerEntry
from usage.selectors.rollups import rollups_complete_until
from usage.selectors.spend import EPOCH, ZERO, _grouped, _parts, _Rows


def spend_by_key(*, since: dict[int, datetime | None], end: datetime) -> dict[int, Decimal]:
    """Spend (reported cost, else computed) per key over [its own start, end) (None: since the beginning).

    One query per source (daily rollups, hourly rollups, raw ledger) whatever the starts: each start's parts
    (as _parts splits them) are read for its keys only, the keys that share a part's span in one IN list."""
    complete_until = rollups_complete_until()
    by_start: dict[datetime, list[int]] = defaultdict(list)
    for key_id, start in since.items():
        by_start[start or EPOCH].append(key_id)
    spans: dict[tuple[str, datetime, datetime], list[int]] = defaultdict(list)
    for start, key_ids in by_start.items():
        for part in _parts(start=start, end=end, complete_until=complete_until):
            spans[part.kind, part.start, part.end] += key_ids
    sources = {  # kind: rows, time field, what a row spent (only the cost: a rollup row holds fourteen sums)
        "day": (DailyRollup.objects, "day", Sum("cost")),
        "hour": (HourlyRollup.objects, "hour", Sum("cost")),
        "raw": (LedgerEntry.objects, "created_at", Sum(SPENT_COST)),
    }
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for kind, (rows, time_field, cost) in sources.items():
        condition = None
        for (part_kind, start, part_end), key_ids in spans.items():
            if part_kind == kind:
                part = Q(
                    api_key_id__in=key_ids, **{f"{time_field}__gte": start, f"{time_field}__lt": part_end}
                )
                condition = part if condition is None else condition | part
        if condition is None:
            continue
        for row in rows.filter(condition).values("api_key_id").annotate(cost=cost).order_by():
            totals[row["api_key_id"]] += row["cost"] or ZERO
    return totals


def models_by_usage(*, key_ids: list[int], start: datetime, end: datetime) -> list[str]:
    """The models of these keys' requests in [start, end) (served, else asked for), most requests first,
    then most spent, then by id."""
    used: dict[str, tuple[int, Decimal]] = {}
    rows = _Rows.of_keys(key_ids)
    for part in _parts(start=start, end=end):
        for row in _grouped(part, rows, dims=("model",)):
            requests, cost = used.get(row["model"], (0, ZERO))
            used[row["model"]] = (requests + row["requests"], cost + (row["cost"] or ZERO))
    ranked = sorted(used.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    return [model for model, _figures in ranked if model]


def spend_per(
    *, dim: str, start: datetime, end: datetime, bucket: str | None = None, subjects: list | None = None
) -> dict[tuple, Decimal]:
    """Spend over [start, end) per `dim` ("api_key_id" or "model"), and per bucket ("hour", "day") when
    given: {(subject,): cost} or {(subject, bucket start): cost}. Every key's rows, or only these subjects'
    (the alerts' spikes)."""
    ledger, hourly, daily = LedgerEntry.objects.all(), HourlyRollup.objects.all(), DailyRollup.objects.all()
    if subjects is not None and dim == "api_key_id":
        ledger, hourly, daily = (rows.filter(api_key_id__in=subjects) for rows in (ledger, hourly, daily))
    elif subjects is not None:
        ledger = ledger.filter(
            Q(served_model__in=subjects) | Q(served_model="", requested_model__in=subjects)
        )
        hourly, daily = hourly.filter(model__in=subjects), daily.filter(model__in=subjects)
    rows = _Rows(ledger, hourly, daily)
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for part in _parts(start=start, end=end, use_days=bucket != "hour"):
        for row in _grouped(part, rows, dims=(dim,), bucket=bucket, sums=("cost",)):
            subject = row[dim]
            if bucket is None:
                totals[(subject,)] += row["cost"] or ZERO
            else:
                totals[(subject, row["bucket"])] += row["cost"] or ZERO
    return totals
