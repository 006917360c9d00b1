"""Selectors for the request log (/activity/, its CSV export) and one request's detail.

The log reads the raw ledger newest first with keyset pagination on (created_at, id), never OFFSET, through
`ledger_recent_idx` (or `ledger_key_recent_idx` for one key). Visibility as on the spend pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone

from usage.models import ApiKey, DailyRollup, LedgerEntry
from usage.selectors.ledger import model_is
from usage.selectors.rollups import rollups_complete_until
from usage.selectors.visibility import visible_ledger, visible_rollups

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CursorError(ValueError):
    """A pagination cursor that was not made by us (tampered, truncated)."""


def encode_cursor(entry_created_at: datetime, entry_id: int) -> str:
    micros = (entry_created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{entry_id}"


def decode_cursor(raw: str) -> tuple[datetime, int]:
    micros, dot, entry_id = raw.partition(".")
    if not dot or not micros.lstrip("-").isdigit() or not entry_id.isdigit() or len(raw) > 40:
        raise CursorError(raw)
    try:
        return EPOCH + timedelta(microseconds=int(micros)), int(entry_id)
    except OverflowError:
        raise CursorError(raw) from None


@dataclass(frozen=True)
class ActivityFilters:
    api_key: ApiKey | None = None
    model: str = ""
    provider: str = ""
    status: str = ""
    endpoint: str = ""
    start: datetime | None = None
    end: datetime | None = None


def activity_queryset(*, user, filters: ActivityFilters) -> QuerySet[LedgerEntry]:
    entries = visible_ledger(user=user)
    if filters.api_key is not None:
        entries = entries.filter(api_key=filters.api_key)
    if filters.model:
        entries = entries.filter(model_is(filters.model))
    if filters.provider:
        entries = entries.filter(provider=filters.provider)
    if filters.status:
        entries = entries.filter(status=filters.status)
    if filters.endpoint:
        entries = entries.filter(endpoint=filters.endpoint)
    if filters.start is not None:
        entries = entries.filter(created_at__gte=filters.start)
    if filters.end is not None:
        entries = entries.filter(created_at__lt=filters.end)
    return entries


def activity_suggestions(*, user, days: int = 90) -> dict[str, list[str]]:
    """Models and providers seen recently (from the daily rollups), for the log's filter inputs."""
    rows = visible_rollups(user=user, model=DailyRollup).filter(
        day__gte=timezone.now() - timedelta(days=days)
    )
    return {
        "models": sorted(set(rows.exclude(model="").values_list("model", flat=True).distinct())),
        "providers": sorted(set(rows.exclude(provider="").values_list("provider", flat=True).distinct())),
    }


def _narrowed(entries: QuerySet[LedgerEntry], *, user, filters: ActivityFilters) -> QuerySet | None:
    """The log's rows, bounded to the days whose rollups have matching requests (None: there are none).

    A model, provider, status or endpoint filter that matches rare (or no) rows would otherwise walk the whole
    newest-first index looking for a page of them; the daily rollups say which days to look at.
    """
    if not (filters.model or filters.provider or filters.status or filters.endpoint):
        return entries
    complete_until = rollups_complete_until()
    if complete_until is None:
        return entries
    days = visible_rollups(user=user, model=DailyRollup)
    if filters.api_key is not None:
        days = days.filter(api_key=filters.api_key)
    for name in ("model", "provider", "status", "endpoint"):
        if getattr(filters, name):
            days = days.filter(**{name: getattr(filters, name)})
    span = days.aggregate(first=Min("day"), last=Max("day"))
    in_tail = entries.filter(created_at__gte=complete_until).exists()
    if span["first"] is None:
        return entries.filter(created_at__gte=complete_until) if in_tail else None
    entries = entries.filter(created_at__gte=span["first"])
    if not in_tail:
        entries = entries.filter(created_at__lt=span["last"] + timedelta(days=1))
    return entries


@dataclass
class ActivityPage:
    entries: list[LedgerEntry]
    older: str | None  # cursor of the next (older) page
    newer: str | None  # cursor of the previous (newer) page


def activity_page(
    *, user, filters: ActivityFilters, before: str = "", after: str = "", size: int = 50
) -> ActivityPage:
    """One page of the log, newest first. `before`/`after` are cursors (CursorError when not ours)."""
    if before:
        decode_cursor(before)  # a bad cursor is an error even when nothing would match
    entries = _narrowed(activity_queryset(user=user, filters=filters), user=user, filters=filters)
    if entries is None:
        return ActivityPage(entries=[], older=None, newer=None)
    entries = entries.select_related("api_key")
    if after:
        moment, entry_id = decode_cursor(after)
        rows = list(
            entries.filter(created_at__gte=moment)
            .filter(Q(created_at__gt=moment) | Q(id__gt=entry_id))
            .order_by("created_at", "id")[: size + 1]
        )
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        has_older = True
    else:
        if before:
            moment, entry_id = decode_cursor(before)
            entries = entries.filter(created_at__lte=moment).filter(
                Q(created_at__lt=moment) | Q(id__lt=entry_id)
            )
        rows = list(entries.order_by("-created_at", "-id")[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = bool(before)
    return ActivityPage(
        entries=rows,
        older=encode_cursor(rows[-1].created_at, rows[-1].id) if rows and has_older else None,
        newer=encode_cursor(rows[0].created_at, rows[0].id) if rows and has_newer else None,
    )


ACTIVITY_EXPORT_FIELDS = (
    "id",
    "created_at",
    "api_key__name",
    "api_key__prefix",
    "requested_model",
    "served_model",
    "provider",
    "status",
    "http_status",
    "prompt_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "reported_cost",
    "computed_cost",
    "latency_ms",
    "ttft_ms",
    "generation_id",
    "error_code",
    "error_message",
    "endpoint",  # last: the columns before it kept their places when it came
)


def activity_export_rows(*, user, filters: ActivityFilters) -> Iterator[tuple]:
    """Every row matching the filters, newest first, streamed from the database in chunks."""
    entries = activity_queryset(user=user, filters=filters).order_by("-created_at", "-id")
    return entries.values_list(*ACTIVITY_EXPORT_FIELDS).iterator(chunk_size=2000)


def activity_entry(*, user, entry_id: int) -> LedgerEntry:
    """One request the user may see (LedgerEntry.DoesNotExist otherwise, whoever's it is)."""
    return (
        visible_ledger(user=user).select_related("api_key", "price_version", "catalog_model").get(id=entry_id)
    )


def activity_entry_id_by_request(*, user, request_id: str) -> int:
    """The id of the request with our request id (the gateway's `x-tokenledger-request-id`), if the user may
    see it (LedgerEntry.DoesNotExist otherwise). Unique, unlike a generation id (a cache hit copies its
    original's): the playground links each reply to its own row this way."""
    return visible_ledger(user=user).values_list("id", flat=True).get(request_id=request_id)


@dataclass(frozen=True)
class CostLine:
    label: str
    units: int
    unit_price: Decimal | None
    cost: Decimal | None


def _or_base(price: Decimal | None, base: Decimal | None) -> Decimal | None:
    """A category the model does not price (0) is billed at its base price (catalog.pricing.usage_cost)."""
    return price if price else base


def cost_breakdown(entry: LedgerEntry) -> list[CostLine]:
    """The computed cost of a request per category, at its price version's effective prices for the row's
    prompt size and time (catalog.price_schedule), line by line as the gateway computes it
    (usage.costs.computed_cost, catalog.pricing.usage_cost)."""
    version = entry.price_version
    if version is None:
        return []
    prices = version.prices_at(entry.prompt_tokens, entry.created_at)
    prompt, completion = prices["prompt"], prices["completion"]
    cache_write = _or_base(prices["input_cache_write"], prompt)
    reasoning = min(entry.reasoning_tokens, entry.completion_tokens)
    one_hour = min(entry.cache_write_1h_tokens, entry.cache_write_tokens)
    lines = [
        ("Input", max(entry.prompt_tokens - entry.cached_tokens - entry.cache_write_tokens, 0), prompt),
        ("Cache read", entry.cached_tokens, _or_base(prices["input_cache_read"], prompt)),
        ("Cache write", entry.cache_write_tokens - one_hour, cache_write),
        ("Cache write (1 h)", one_hour, _or_base(prices["input_cache_write_1h"], cache_write)),
        ("Output", entry.completion_tokens - reasoning, completion),
        ("Reasoning", reasoning, _or_base(prices["internal_reasoning"], completion)),
        ("Request", 1, prices["request"]),
        ("Web search", entry.web_search_requests, prices["web_search"]),
    ]
    return [
        CostLine(label, units, price, None if price is None else units * price)
        for label, units, price in lines
        if units and (price is None or price)
    ]
