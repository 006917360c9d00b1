"""Reads of the catalogue shared by the gateway and the pages: prices now, at an instant, over time, and
what changed. (The pages' own reads are in catalog/page_selectors.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion, SyncRun


def price_at(*, catalog_model_id: int, at: datetime) -> PriceVersion | None:
    """The price version valid at `at` (valid_from <= at < valid_to), or None before the model's first."""
    return (
        PriceVersion.objects.filter(catalog_model_id=catalog_model_id, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by("-valid_from")
        .first()
    )


def current_price(*, catalog_model_id: int) -> PriceVersion | None:
    """The open price version of a model (retired models keep their last one)."""
    return PriceVersion.objects.filter(catalog_model_id=catalog_model_id, valid_to__isnull=True).first()


def current_prices(*, include_retired: bool = False) -> dict[str, PriceVersion]:
    """{OpenRouter id: open price version} for every current model (retired too if asked): one query."""
    versions = PriceVersion.objects.filter(valid_to__isnull=True).select_related("catalog_model")
    if not include_retired:
        versions = versions.filter(catalog_model__retired_at__isnull=True)
    return {v.catalog_model.model_id: v for v in versions}


def price_history(*, catalog_model_id: int) -> list[PriceVersion]:
    """Every price version of a model, oldest first."""
    return list(PriceVersion.objects.filter(catalog_model_id=catalog_model_id).order_by("valid_from"))


def catalog_changes_since(*, since: datetime) -> QuerySet[SyncRun]:
    """Successful syncs started at or after `since` that added, repriced or retired something, newest
    first (their `changes` lists the model ids)."""
    return SyncRun.objects.filter(status=SyncRun.Status.OK, started_at__gte=since).filter(
        Q(added__gt=0) | Q(repriced__gt=0) | Q(retired__gt=0)
    )


def last_sync() -> SyncRun | None:
    """The latest sync attempt, failed ones included."""
    return SyncRun.objects.order_by("-started_at", "-pk").first()


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A catalogue model and its open price version (none for a model without one)."""

    model_id: str
    catalog_model_id: int
    current: bool  # not retired
    price_version_id: int | None
    valid_from: datetime | None
    prices: dict[str, Decimal | None] | None


def model_prices() -> list[ModelPrice]:
    """Every catalogue model, retired ones included, with its open price version: two queries."""
    versions = {
        row["catalog_model_id"]: row
        for row in PriceVersion.objects.filter(valid_to__isnull=True).values(
            "id", "valid_from", "catalog_model_id", *PRICE_FIELDS
        )
    }
    out = []
    for pk, model_id, retired_at in CatalogModel.objects.values_list("pk", "model_id", "retired_at"):
        version = versions.get(pk)
        out.append(
            ModelPrice(
                model_id=model_id,
                catalog_model_id=pk,
                current=retired_at is None,
                price_version_id=None if version is None else version["id"],
                valid_from=None if version is None else version["valid_from"],
                prices=None if version is None else {name: version[name] for name in PRICE_FIELDS},
            )
        )
    return out


def models_listing() -> list[tuple[str, dict]]:
    """(id, Models API object) of every current model, newest first: what GET /api/v1/models lists."""
    return list(
        CatalogModel.objects.filter(retired_at__isnull=True)
        .order_by("-created", "model_id")
        .values_list("model_id", "raw")
    )
