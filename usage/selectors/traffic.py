"""Traffic on models: the totals of "your traffic on these models" (model and compare pages, computed with
their re-pricing in usage.selectors.repricing), the models with recent traffic (the provider-endpoints
fetch), and the p50 latency per served model (the gateway's "fastest" strategy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from statistics import median_low

from catalog.models import CatalogModel
from usage.models import HourlyRollup, LedgerEntry


@dataclass(frozen=True)
class TrafficTotals:
    """Token volumes of a set of ledger rows. prompt_tokens include cached and cache-written ones;
    completion_tokens include reasoning ones. requests counts rows that reached the model (ok/cancelled),
    entries every row."""

    entries: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    web_search_requests: int = 0
    cost: Decimal = Decimal(0)  # OpenRouter's reported cost, else ours
    last_at: datetime | None = None


def models_with_recent_traffic(*, since: datetime) -> list[str]:
    """OpenRouter model ids requests were served or asked for since `since` (raw ledger + hourly rollups)."""
    served = LedgerEntry.objects.filter(created_at__gte=since, catalog_model__isnull=False)
    ids = set(served.values_list("catalog_model__model_id", flat=True).distinct())
    rolled = HourlyRollup.objects.filter(hour__gte=since).exclude(model="")
    ids |= set(rolled.values_list("model", flat=True).distinct())
    openrouter = CatalogModel.objects.filter(model_id__in=ids, source=CatalogModel.Source.OPENROUTER)
    return sorted(openrouter.values_list("model_id", flat=True))


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
