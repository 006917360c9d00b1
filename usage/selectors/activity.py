"""Selectors for the request log (/activity/, its CSV export) and one request's detail.

The log reads the raw ledger newest first with keyset pagination on (created_at, id), never OFFSET, through
`ledger_recent_idx` (or `ledger_key_recent_idx` for one key). Visibility as on the spend pages.

The model filter takes part of a model id or of a catalogue model's name: it is first turned into the exact
model ids it names (from the catalogue, the daily rollups and the ledger's raw tail, all small), so the ledger
is searched through `ledger_model_recent_idx` with `served_model IN (...)`, never with a LIKE over its rows.
The provider filter ignores case. How many rows match: activity_count.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone

from catalog.models import CatalogModel
from usage.costs import SPENT_COST
from usage.models import ApiKey, DailyRollup, LedgerEntry
from usage.selectors import activity_count
from usage.selectors.ledger import MODEL_NAME
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
    model: str = ""  # part of a model id or of a catalogue model's name, any case
    provider: str = ""  # a provider's name, any case
    status: str = ""
    endpoint: str = ""
    start: datetime | None = None
    end: datetime | None = None
    cost_min: Decimal | None = None  # spent cost (usage.costs.SPENT_COST), both bounds included
    cost_max: Decimal | None = None
    latency_min_ms: int | None = None  # both bounds included
    latency_max_ms: int | None = None


def _models_named(text: str, *, user) -> list[str]:
    """The model ids (of the catalogue or of the user's traffic) whose id or catalogue name contains `text`,
    any case; just the one it is, when it is a whole id (a model page links to its requests so). Traffic is
    read from the daily rollups and, after the hour they are complete until, from the ledger's raw tail
    (all of it before the first rollup)."""
    named = CatalogModel.objects.filter(Q(model_id__icontains=text) | Q(name__icontains=text))
    rolled = visible_rollups(user=user, model=DailyRollup).filter(model__icontains=text)
    tail = visible_ledger(user=user).annotate(model_name=MODEL_NAME).filter(model_name__icontains=text)
    complete_until = rollups_complete_until()
    if complete_until is not None:
        tail = tail.filter(created_at__gte=complete_until)
    found = (
        set(named.values_list("model_id", flat=True))
        | set(rolled.values_list("model", flat=True).distinct())
        | set(tail.order_by().values_list("model_name", flat=True).distinct())
    )
    whole = [model for model in found if model.lower() == text.lower()]
    return whole or sorted(found)


def activity_queryset(
    *, user, filters: ActivityFilters, models: list[str] | None = None
) -> QuerySet[LedgerEntry]:
    """The rows `user` may see that match `filters` (which only ever narrow the visible rows); `models`: the
    model filter's ids when already looked up (_models_named)."""
    entries = visible_ledger(user=user)
    if filters.api_key is not None:
        entries = entries.filter(api_key=filters.api_key)
    if filters.model:
        models = _models_named(filters.model, user=user) if models is None else models
        # As the rollups' model: served, else requested (through ledger_model_name_idx, newest first).
        entries = entries.alias(model_name=MODEL_NAME).filter(model_name__in=models)
    if filters.provider:
        entries = entries.filter(provider__iexact=filters.provider)
    if filters.status:
        entries = entries.filter(status=filters.status)
    if filters.endpoint:
        entries = entries.filter(endpoint=filters.endpoint)
    if filters.start is not None:
        entries = entries.filter(created_at__gte=filters.start)
    if filters.end is not None:
        entries = entries.filter(created_at__lt=filters.end)
    if filters.cost_min is not None or filters.cost_max is not None:
        entries = entries.alias(spent=SPENT_COST)
        if filters.cost_min is not None:
            entries = entries.filter(spent__gte=filters.cost_min)
        if filters.cost_max is not None:
            entries = entries.filter(spent__lte=filters.cost_max)
    if filters.latency_min_ms is not None:
        entries = entries.filter(latency_ms__gte=filters.latency_min_ms)
    if filters.latency_max_ms is not None:
        entries = entries.filter(latency_ms__lte=filters.latency_max_ms)
    return entries


def activity_suggestions(*, user, days: int = 90) -> dict[str, list[str]]:
    """Models and providers seen recently (from the daily rollups), for the log's filter inputs."""
    rows = (
        visible_rollups(user=user, model=DailyRollup)
        .filter(day__gte=timezone.now() - timedelta(days=days))
        .order_by()  # the model's ordering by day would make each day a distinct row (and parse its date)
    )
    pairs = list(rows.values_list("model", "provider").distinct())  # one read of the rollups, not two
    return {
        "models": sorted({model for model, _ in pairs if model}),
        "providers": sorted({provider for _, provider in pairs if provider}),
    }


def _narrowed(
    entries: QuerySet[LedgerEntry], *, user, filters: ActivityFilters, models: list[str], complete_until
) -> QuerySet | None:
    """The log's rows, bounded to the days whose rollups have matching requests (None: there are none).

    A model, provider, status or endpoint filter that matches rare (or no) rows would otherwise walk the whole
    newest-first index looking for a page of them; the daily rollups say which days to look at.
    """
    if not (filters.model or filters.provider or filters.status or filters.endpoint):
        return entries
    if complete_until is None:
        return entries
    days = visible_rollups(user=user, model=DailyRollup)
    if filters.api_key is not None:
        days = days.filter(api_key=filters.api_key)
    if filters.model:
        days = days.filter(model__in=models)
    if filters.provider:
        days = days.filter(provider__iexact=filters.provider)
    for name in ("status", "endpoint"):
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


@dataclass(frozen=True, slots=True)
class Throughput:
    """Output tokens per second: after the first token when the time to it is known (how fast the reply was
    generated), else over the whole latency."""

    per_second: Decimal
    after_first_token: bool

    @property
    def formula(self) -> str:
        if self.after_first_token:
            return "output tokens ÷ (latency − time to first token)"
        return "output tokens ÷ latency"


def tokens_per_second(entry: LedgerEntry) -> Throughput | None:
    """None for a request without output tokens or time to measure them by."""
    if not entry.completion_tokens:
        return None
    after_first_token = entry.ttft_ms is not None and entry.latency_ms > entry.ttft_ms
    millis = entry.latency_ms - entry.ttft_ms if after_first_token else entry.latency_ms
    if millis <= 0:
        return None
    per_second = (Decimal(entry.completion_tokens) * 1000 / millis).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return Throughput(per_second=per_second, after_first_token=after_first_token)


@dataclass(frozen=True, slots=True)
class ActivityRow:
    entry: LedgerEntry
    throughput: Throughput | None


@dataclass
class ActivityPage:
    rows: list[ActivityRow]
    older: str | None  # cursor of the next (older) page
    newer: str | None  # cursor of the previous (newer) page
    count: (
        int | None
    )  # of every row matching the filters: exact, or up to COUNT_LIMIT + 1 (None: not counted)
    count_capped: bool  # a bounded count found more than COUNT_LIMIT rows: it shows as "10,000+"

    @property
    def entries(self) -> list[LedgerEntry]:
        return [row.entry for row in self.rows]


def activity_page(
    *, user, filters: ActivityFilters, before: str = "", after: str = "", size: int = 50
) -> ActivityPage:
    """One page of the log, newest first, and the count of matching rows. `before`/`after` are cursors
    (CursorError when not ours)."""
    if before:
        decode_cursor(before)  # a bad cursor is an error even when nothing would match
    models = _models_named(filters.model, user=user) if filters.model else []
    entries = activity_queryset(user=user, filters=filters, models=models)
    complete_until = rollups_complete_until()
    rolled = {"user": user, "filters": filters, "models": models, "complete_until": complete_until}
    count = activity_count.rollup_count(entries=entries, **rolled)
    exact = count is not None
    entries = _narrowed(entries, **rolled)
    if entries is None:
        return ActivityPage(rows=[], older=None, newer=None, count=0, count_capped=False)
    if count is None:
        count = activity_count.bounded_count(entries)
    capped = not exact and count is not None and count > activity_count.COUNT_LIMIT
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
        newest = entries.order_by("-created_at", "-id")
        if before:
            moment, entry_id = decode_cursor(before)
            rows = list(
                newest.filter(created_at__lte=moment).filter(Q(created_at__lt=moment) | Q(id__lt=entry_id))[
                    : size + 1
                ]
            )
        else:  # the first page: from the newest hour that, with the hours after it, holds a page of matches
            start = activity_count.newest_matches_start(entries=entries, size=size + 1, **rolled)
            rows = [] if start is None else list(newest.filter(created_at__gte=start)[: size + 1])
            if len(rows) <= size:  # fewer than the rollups said (pruned rows): the whole range after all
                rows = list(newest[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = bool(before)
    return ActivityPage(
        rows=[ActivityRow(entry=row, throughput=tokens_per_second(row)) for row in rows],
        older=encode_cursor(rows[-1].created_at, rows[-1].id) if rows and has_older else None,
        newer=encode_cursor(rows[0].created_at, rows[0].id) if rows and has_newer else None,
        count=activity_count.COUNT_LIMIT if capped else count,
        count_capped=capped,
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
