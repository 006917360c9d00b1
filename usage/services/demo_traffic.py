"""Realistic demo traffic for the ledger: several keys and catalogue models, token mixes with cache reads and
writes and reasoning, a few errors, cancellations and refusals. Used by `seed_demo_traffic` and the bench.

Rows are generated in time order as plain dicts of LedgerEntry column values, so a caller can bulk-insert
them (`ledger_rows_insert`) or COPY them (bench/spend_pages.py) without holding them all in memory.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from catalog.models import CatalogModel, PriceVersion
from usage.costs import computed_cost
from usage.models import ApiKey, LedgerEntry
from usage.services.keys import api_key_create

# Models people use a lot, when the catalogue has them; otherwise the first priced ones.
PREFERRED_MODELS = (
    "openai/gpt-4o-mini",
    "anthropic/claude-sonnet-4",
    "google/gemini-2.5-flash",
    "openai/gpt-4o",
    "deepseek/deepseek-chat-v3-0324",
    "meta-llama/llama-3.3-70b-instruct",
    "anthropic/claude-3.5-haiku",
    "openai/o4-mini",
    "mistralai/mistral-small-3.2-24b-instruct",
    "qwen/qwen3-235b-a22b",
)
MODEL_COUNT = 8
PROVIDERS = {
    "openai": ("OpenAI", "Azure"),
    "anthropic": ("Anthropic", "Amazon Bedrock", "Google"),
    "google": ("Google AI Studio", "Google Vertex"),
}
OTHER_PROVIDERS = ("DeepInfra", "Together", "Fireworks", "Novita")
DEMO_KEYS = (
    # name, budget (USD), period, share of traffic
    ("demo-production", Decimal("500"), ApiKey.Period.MONTHLY, 0.55),
    ("demo-staging", Decimal("40"), ApiKey.Period.WEEKLY, 0.15),
    ("demo-batch-jobs", None, ApiKey.Period.NONE, 0.2),
    ("demo-research", Decimal("5"), ApiKey.Period.DAILY, 0.1),
)
STATUS_MIX = (  # status, http status, error code, error message, share
    (LedgerEntry.Status.OK, 200, "", "", 0.94),
    (LedgerEntry.Status.ERROR, 502, "502", "Provider returned error", 0.02),
    (LedgerEntry.Status.ERROR, 429, "429", "Rate limit exceeded upstream, please retry", 0.01),
    (LedgerEntry.Status.CANCELLED, 499, "client_disconnected", "The client went away mid-stream", 0.015),
    (LedgerEntry.Status.REJECTED, 402, "budget_exceeded", "This key's budget is spent", 0.01),
    (LedgerEntry.Status.REJECTED, 429, "rate_limited", "Too many requests for this key", 0.005),
)


@dataclass
class DemoModel:
    catalog_model: CatalogModel
    versions: list[PriceVersion]  # by valid_from
    providers: tuple[str, ...]
    weight: float

    def version_at(self, moment: datetime) -> PriceVersion:
        index = bisect.bisect_right([v.valid_from for v in self.versions], moment) - 1
        return self.versions[max(index, 0)]


class NoCatalogue(Exception):
    """The catalogue has no priced models to make traffic with."""


def demo_models() -> list[DemoModel]:
    priced = CatalogModel.objects.filter(
        retired_at__isnull=True,
        price_versions__valid_to__isnull=True,
        price_versions__prompt__gt=0,
        price_versions__completion__gt=0,
    )
    chosen = list(priced.filter(model_id__in=PREFERRED_MODELS))
    if len(chosen) < MODEL_COUNT:
        chosen += list(
            priced.exclude(id__in=[m.id for m in chosen]).order_by("model_id")[: MODEL_COUNT - len(chosen)]
        )
    if not chosen:
        raise NoCatalogue("the catalogue has no priced models: run `manage.py sync_catalog --seed` first")
    versions: dict[int, list[PriceVersion]] = {}
    for version in PriceVersion.objects.filter(catalog_model__in=chosen).order_by("valid_from"):
        versions.setdefault(version.catalog_model_id, []).append(version)
    models = []
    for rank, model in enumerate(sorted(chosen, key=lambda m: m.model_id)):
        usable = [v for v in versions.get(model.id, []) if v.prompt is not None and v.completion is not None]
        if usable:
            providers = PROVIDERS.get(model.author, OTHER_PROVIDERS)
            models.append(DemoModel(model, usable, providers, weight=1 / (rank + 1)))
    return models


def demo_keys(*, owner=None) -> list[tuple[ApiKey, float]]:
    """The demo keys (created once through the key service, found again on later runs), owned by `owner`,
    else by the first superuser (none: no owner)."""
    if owner is None:
        owner = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
    keys = []
    for name, budget, period, share in DEMO_KEYS:
        key = ApiKey.objects.filter(name=name, revoked_at__isnull=True).order_by("id").first()
        if key is None:
            key, _secret = api_key_create(name=name, owner=owner, budget_usd=budget, budget_period=period)
        keys.append((key, share))
    return keys


def demo_rows(
    *,
    keys: list[tuple[ApiKey, float]],
    models: list[DemoModel],
    count: int,
    start: datetime,
    end: datetime,
    seed: int = 7,
) -> Iterator[dict]:
    """`count` ledger rows spread evenly over [start, end), in time order."""
    rng = random.Random(seed)
    span = (end - start) / max(count, 1)
    key_list = [key for key, _ in keys]
    key_weights = [share for _, share in keys]
    model_weights = [m.weight for m in models]
    status_weights = [mix[-1] for mix in STATUS_MIX]
    for index in range(count):
        created_at = start + span * index + span * rng.random()
        key = rng.choices(key_list, key_weights)[0]
        model = rng.choices(models, model_weights)[0]
        status, http_status, error_code, error_message, _ = rng.choices(STATUS_MIX, status_weights)[0]
        version = model.version_at(created_at)
        stream = rng.random() < 0.6
        row = {
            "api_key_id": key.id,
            "created_at": created_at,
            "endpoint": "chat/completions",
            "requested_model": model.catalog_model.model_id,
            "served_model": "" if status == LedgerEntry.Status.REJECTED else model.catalog_model.model_id,
            "catalog_model_id": model.catalog_model.id,
            "provider": "" if status == LedgerEntry.Status.REJECTED else rng.choice(model.providers),
            "generation_id": "",
            "stream": stream,
            "http_status": http_status,
            "status": status,
            "error_code": error_code,
            "error_message": error_message,
            "prompt_tokens": 0,
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "completion_tokens": 0,
            "reasoning_tokens": 0,
            "reported_cost": None,
            "computed_cost": None,
            "price_version_id": None,
            "latency_ms": rng.randint(40, 400),
            "ttft_ms": None,
            "upstream_latency_ms": None,
            "user_tag": "",
        }
        if status in (LedgerEntry.Status.OK, LedgerEntry.Status.CANCELLED):
            prompt = int(rng.lognormvariate(7, 1.1)) + 20
            cached = int(prompt * rng.choice((0, 0, 0.5, 0.8, 0.9))) if version.input_cache_read else 0
            write = (
                int((prompt - cached) * 0.5)
                if cached == 0 and version.input_cache_write and rng.random() < 0.2
                else 0
            )
            completion = int(rng.lognormvariate(5.5, 1)) + 1
            if status == LedgerEntry.Status.CANCELLED:
                completion //= 3
            reasoning = (
                int(completion * rng.uniform(0.3, 0.8))
                if "o4" in model.catalog_model.model_id or rng.random() < 0.15
                else 0
            )
            cost = computed_cost(
                version.prices_at(prompt, created_at),  # the effective prices (tiers, time windows)
                prompt_tokens=prompt,
                cached_tokens=cached,
                cache_write_tokens=write,
                completion_tokens=completion,
                reasoning_tokens=reasoning,
            )
            reported = (
                cost * Decimal("1.1") if rng.random() < 0.01 else cost
            )  # a provider billing differently
            latency = int(300 + completion * rng.uniform(5, 25))
            row.update(
                generation_id=f"gen-{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}",
                prompt_tokens=prompt,
                cached_tokens=cached,
                cache_write_tokens=write,
                completion_tokens=completion,
                reasoning_tokens=reasoning,
                reported_cost=reported.quantize(Decimal("1e-12")),
                computed_cost=cost,
                price_version_id=version.id,
                latency_ms=latency,
                ttft_ms=int(latency * rng.uniform(0.1, 0.4)) if stream else None,
                upstream_latency_ms=latency - rng.randint(1, 15),
            )
        elif status == LedgerEntry.Status.ERROR:
            row.update(
                price_version_id=version.id, computed_cost=Decimal(0), latency_ms=rng.randint(200, 3000)
            )
        yield row


def ledger_rows_insert(rows: Iterator[dict], *, batch_size: int = 5000) -> int:
    """Bulk-insert generated rows, one transaction per batch."""
    inserted = 0
    batch: list[LedgerEntry] = []
    for row in rows:
        batch.append(LedgerEntry(**row))
        if len(batch) >= batch_size:
            with transaction.atomic():
                LedgerEntry.objects.bulk_create(batch)
            inserted += len(batch)
            batch = []
    if batch:
        with transaction.atomic():
            LedgerEntry.objects.bulk_create(batch)
        inserted += len(batch)
    return inserted


def demo_window(*, days: int, now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now
