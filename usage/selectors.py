"""Reads of the usage app: keys, their spend, the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median_low

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import CatalogModel
from usage.costs import MONEY, SPENT_COST, ZERO
from usage.models import ApiKey, HourlyRollup, LedgerEntry
from usage.periods import period_start
from usage.rollups import MODEL_NAME, floor_hour, rollups_complete_until

# ---- Keys and budgets (gateway) ----


def key_period_start(*, api_key: ApiKey, now: datetime | None = None) -> datetime | None:
    """When the key's current budget period began (None: the period never resets)."""
    return period_start(api_key.budget_period, now or timezone.now())


def key_spend_since(*, api_key_id: int, since: datetime | None) -> Decimal:
    """What the key spent since `since` (ever, when None): OpenRouter's cost where given, else ours."""
    rows = LedgerEntry.objects.filter(api_key_id=api_key_id)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    total = rows.aggregate(spent=Sum(SPENT_COST))["spent"]
    return total if total is not None else Decimal(0)


def key_spend_in_period(*, api_key: ApiKey, now: datetime | None = None) -> Decimal:
    """What the key spent in its current budget period (as the gateway's budget counts it)."""
    return key_spend_since(api_key_id=api_key.pk, since=key_period_start(api_key=api_key, now=now))


# ---- Traffic on models (model and compare pages: "your traffic on these models") ----
# Visibility as on the spend pages: staff see every ledger row, other users the rows of the keys they own.
# One aggregate query per call, whatever the number of rows or models.


@dataclass(frozen=True)
class TrafficTotals:
    """Token volumes of a set of ledger rows. prompt_tokens include cached and cache-written ones;
    completion_tokens include reasoning ones. requests counts rows that reached the model (ok/cancelled)."""

    entries: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    web_search_requests: int = 0
    cost: Decimal = Decimal(0)  # OpenRouter's reported cost, else ours
    last_at: datetime | None = None


def traffic_keys(*, user) -> QuerySet[ApiKey]:
    """The keys whose traffic this user may see."""
    keys = ApiKey.objects.order_by("name", "pk")
    return keys if user.is_staff else keys.filter(owner=user)


def _traffic_visible(*, user) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.all()
    return entries if user.is_staff else entries.filter(api_key__owner=user)


def _traffic_sum(entries: QuerySet[LedgerEntry]) -> TrafficTotals:
    row = entries.aggregate(
        entries=Count("pk"),
        requests=Count("pk", filter=Q(status__in=[LedgerEntry.Status.OK, LedgerEntry.Status.CANCELLED])),
        prompt_tokens=Coalesce(Sum("prompt_tokens"), 0),
        cached_tokens=Coalesce(Sum("cached_tokens"), 0),
        cache_write_tokens=Coalesce(Sum("cache_write_tokens"), 0),
        completion_tokens=Coalesce(Sum("completion_tokens"), 0),
        reasoning_tokens=Coalesce(Sum("reasoning_tokens"), 0),
        web_search_requests=Coalesce(Sum("web_search_requests"), 0),
        cost=Coalesce(Sum(SPENT_COST), ZERO, output_field=MONEY),
        last_at=Max("created_at"),
    )
    row["cost"] = Decimal(row["cost"])
    return TrafficTotals(**row)


def traffic_totals(*, user, start: datetime, end: datetime, api_key_id: int | None = None) -> TrafficTotals:
    """All of the user's visible traffic in [start, end), optionally of one key."""
    entries = _traffic_visible(user=user).filter(created_at__gte=start, created_at__lt=end)
    if api_key_id is not None:
        entries = entries.filter(api_key_id=api_key_id)
    return _traffic_sum(entries)


def model_traffic(*, user, model_id: str) -> TrafficTotals:
    """All of the user's visible traffic served by one model (or requested, when nothing was served)."""
    entries = _traffic_visible(user=user).filter(
        Q(served_model=model_id) | Q(served_model="", requested_model=model_id)
    )
    return _traffic_sum(entries)


# ---- Playground (dashboard/playground.py) ----


def playground_keys(*, user, now: datetime | None = None) -> list[ApiKey]:
    """The user's own usable keys (not revoked, not expired), the playground key first."""
    now = now or timezone.now()
    return list(
        ApiKey.objects.filter(owner=user, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-is_playground", "name", "pk")
    )


def playground_most_used_models(
    *, user, limit: int = 8, days: int = 30, now: datetime | None = None
) -> list[str]:
    """The models the user's keys used most in the last `days` days, most used first.

    Hours already rolled up are counted from the hourly rollups, the rest from the raw ledger (a few
    minutes of it), so a long ledger costs no more than a short one. A model is the one that served,
    else the one requested (as in the rollups).
    """
    now = now or timezone.now()
    since = floor_hour(now - timedelta(days=days))
    rolled_until = max(since, min(rollups_complete_until() or since, now))
    counts: dict[str, int] = {}
    rolled = (
        HourlyRollup.objects.filter(api_key__owner=user, hour__gte=since, hour__lt=rolled_until)
        .exclude(model="")
        .values("model")
        .annotate(requests=Sum("requests"))
        .order_by()
    )
    raw = (
        LedgerEntry.objects.filter(api_key__owner=user, created_at__gte=rolled_until)
        .annotate(model=MODEL_NAME)
        .exclude(model="")
        .values("model")
        .annotate(requests=Count("id"))
        .order_by()
    )
    for row in [*rolled, *raw]:
        counts[row["model"]] = counts.get(row["model"], 0) + row["requests"]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [model for model, _requests in ranked[:limit]]


def playground_ledger_entry(
    *, user, generation_id: str, within: timedelta = timedelta(days=1), now: datetime | None = None
) -> LedgerEntry | None:
    """The ledger row of one of the user's recent requests, by the upstream generation id.

    Only rows of the last `within` are searched: the page asks right after a reply, and the (key,
    created_at) index then reads a few rows however long the ledger is.
    """
    since = (now or timezone.now()) - within
    return (
        LedgerEntry.objects.filter(api_key__owner=user, created_at__gte=since, generation_id=generation_id)
        .order_by("-created_at", "-id")
        .first()
    )


# ---- Models with traffic (the scheduled provider-endpoints fetch, usage/provider_endpoints.py) ----


def models_with_recent_traffic(*, since: datetime) -> list[str]:
    """OpenRouter model ids requests were served or asked for since `since` (raw ledger + hourly rollups)."""
    served = LedgerEntry.objects.filter(created_at__gte=since, catalog_model__isnull=False)
    ids = set(served.values_list("catalog_model__model_id", flat=True).distinct())
    rolled = HourlyRollup.objects.filter(hour__gte=since).exclude(model="")
    ids |= set(rolled.values_list("model", flat=True).distinct())
    openrouter = CatalogModel.objects.filter(model_id__in=ids, source=CatalogModel.Source.OPENROUTER)
    return sorted(openrouter.values_list("model_id", flat=True))


# ---- Latency per served model (the gateway's "fastest" alias strategy, usage/gateway/routing.py) ----

LATENCY_SAMPLE_ROWS = 5000


def model_latency_p50(*, since: datetime) -> dict[str, int]:
    """Served model -> median latency_ms (the lower median: a measured value) of its "ok" rows since `since`.

    Bounded: only the newest LATENCY_SAMPLE_ROWS such rows are read.
    """
    rows = (
        LedgerEntry.objects.filter(status=LedgerEntry.Status.OK, created_at__gte=since)
        .exclude(served_model="")
        .order_by("-created_at", "-id")
        .values_list("served_model", "latency_ms")[:LATENCY_SAMPLE_ROWS]
    )
    samples: dict[str, list[int]] = {}
    for model, latency_ms in rows:
        samples.setdefault(model, []).append(latency_ms)
    return {model: median_low(values) for model, values in samples.items()}


# ---- The gateway's keys (usage/gateway/store.py) ----


def api_key_by_secret_hash(*, digest: str) -> ApiKey | None:
    """The key whose secret has this SHA-256 (usage.credentials.secret_hash), revoked or not."""
    return ApiKey.objects.filter(secret_hash=digest).first()
