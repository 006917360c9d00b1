"""How many requests the log's filters match, fast at millions of rows.

- Filters the rollups hold (key, model, provider, status, endpoint, and dates on the hour) are counted
  exactly from them: whole days from the daily rollups, other rolled-up hours from the hourly ones, and the
  raw rows not rolled up yet (spend.py's parts). Not with a ledger retention (LEDGER_RETENTION_DAYS), whose
  pruned rows the rollups still count.
- Others (a cost or latency range) count the rows, stopping at COUNT_LIMIT + 1. A rare match would have the
  database read every row to find there are fewer: on PostgreSQL the count gives up after COUNT_TIMEOUT_MS
  (None: the page says it did not count).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet, Sum

from usage.selectors.rollups import DAY
from usage.selectors.spend import _parts, _Rows

COUNT_LIMIT = 10_000  # the log counts its matching rows up to this many ("10,000+")
COUNT_TIMEOUT_MS = 60  # PostgreSQL: a bounded count that takes longer is given up
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement timeout
FAR = datetime(9999, 1, 1, tzinfo=UTC)


def _held(filters) -> bool:
    """Do the rollups hold every filter but the dates? Not a cost or latency range: they do not know how many
    of their requests one keeps."""
    ranges = (filters.cost_min, filters.cost_max, filters.latency_min_ms, filters.latency_max_ms)
    return all(bound is None for bound in ranges)


def rollup_count(
    *, user, filters, models: list[str], entries: QuerySet, complete_until: datetime | None
) -> int | None:
    """The exact count from the rollups (None when the filters are not theirs, or the rollups never ran and
    every row would be counted raw). `entries`: the log's rows matching the filters (activity_queryset), for
    the tail since `complete_until` (rollups_complete_until())."""
    if settings.LEDGER_RETENTION_DAYS or complete_until is None or not _held(filters):
        return None
    start, end = filters.start or datetime(1970, 1, 1, tzinfo=UTC), filters.end or FAR
    if any(moment.minute or moment.second or moment.microsecond for moment in (start, end)):
        return None
    rows = _Rows.visible_to(user, filters.endpoint)
    dimensions = _dimensions(filters, models)
    total = 0
    for part in _parts(start=start, end=end, complete_until=complete_until):
        if part.kind == "raw":
            total += entries.filter(created_at__gte=part.start, created_at__lt=part.end).order_by().count()
            continue
        if part.kind == "day":
            rollups = rows.daily.filter(day__gte=part.start, day__lt=part.end)
        else:
            rollups = rows.hourly.filter(hour__gte=part.start, hour__lt=part.end)
        total += rollups.filter(**dimensions).aggregate(n=Sum("requests"))["n"] or 0
    return total


def _dimensions(filters, models: list[str]) -> dict:
    """The filters as rollup lookups (the caller checked that the rollups hold them)."""
    dimensions = {}
    if filters.api_key is not None:
        dimensions["api_key"] = filters.api_key
    if filters.model:
        dimensions["model__in"] = models
    if filters.provider:
        dimensions["provider__iexact"] = filters.provider
    if filters.status:
        dimensions["status"] = filters.status
    return dimensions


def newest_matches_start(
    *, user, filters, models: list[str], entries: QuerySet, size: int, complete_until: datetime | None
) -> datetime | None:
    """The start of the newest hour such that the rows since hold at least `size` matches, from the rollups
    (None: no such bound, or the filters are not theirs): the log's first page then reads only those hours,
    through the model's index when there is a model filter, instead of walking every newer row for rare
    matches. The caller reads the whole range after all when the hours hold fewer rows (pruned ones)."""
    if not (filters.model or filters.provider or filters.status or filters.endpoint):
        return None  # the newest rows match: nothing to skip
    if complete_until is None or filters.start or filters.end or not _held(filters):
        return None
    found = entries.filter(created_at__gte=complete_until).order_by()[:size].count()
    if found >= size:
        return complete_until
    rows = _Rows.visible_to(user, filters.endpoint)
    dimensions = _dimensions(filters, models)
    days = (
        rows.daily.filter(day__lt=complete_until, **dimensions)
        .values("day")
        .annotate(n=Sum("requests"))
        .order_by("-day")
    )
    for day in days:
        if found + day["n"] < size:
            found += day["n"]
            continue
        hours = (
            rows.hourly.filter(
                hour__gte=day["day"], hour__lt=min(day["day"] + DAY, complete_until), **dimensions
            )
            .values("hour")
            .annotate(n=Sum("requests"))
            .order_by("-hour")
        )
        for hour in hours:
            found += hour["n"]
            if found >= size:
                return hour["hour"]
        return day["day"]
    return None


def bounded_count(entries: QuerySet) -> int | None:
    """How many rows match, counting no further than COUNT_LIMIT + 1 (SELECT COUNT(*) FROM (... LIMIT n));
    on PostgreSQL None when that takes over COUNT_TIMEOUT_MS."""
    query = entries.order_by().values("id")[: COUNT_LIMIT + 1]
    if connection.vendor != "postgresql":
        return query.count()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [COUNT_TIMEOUT_MS])
            count = query.count()
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
            return count
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
            return None
        raise
