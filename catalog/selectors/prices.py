"""Prices as the gateway and the ledger read them: every model's open price version, the version valid at
an instant. (The Models API listing is in catalog.selectors.listing, the pages' reads in .catalogue.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion


def price_at(*, catalog_model_id: int, at: datetime) -> PriceVersion | None:
    """The price version valid at `at` (valid_from <= at < valid_to), or None before the model's first."""
    return (
        PriceVersion.objects.filter(catalog_model_id=catalog_model_id, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by("-valid_from")
        .first()
    )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A catalogue model and its open price version (none for a model without one)."""

    model_id: str
    catalog_model_id: int
    current: bool  # not retired
    price_version_id: int | None
    valid_from: datetime | None
    prices: dict[str, Decimal | None] | None  # base prices
    overrides: list  # pricing.overrides as received (catalog.price_schedule)
    context_length: int | None = None
    max_completion_tokens: int | None = None


def model_prices() -> list[ModelPrice]:
    """Every catalogue model, retired ones included, with its open price version: two queries."""
    versions = {
        row["catalog_model_id"]: row
        for row in PriceVersion.objects.filter(valid_to__isnull=True).values(
            "id", "valid_from", "catalog_model_id", "overrides", *PRICE_FIELDS
        )
    }
    out = []
    models = CatalogModel.objects.values_list(
        "pk", "model_id", "retired_at", "context_length", "max_completion_tokens"
    )
    for pk, model_id, retired_at, context_length, max_completion_tokens in models:
        version = versions.get(pk)
        out.append(
            ModelPrice(
                model_id=model_id,
                catalog_model_id=pk,
                current=retired_at is None,
                price_version_id=None if version is None else version["id"],
                valid_from=None if version is None else version["valid_from"],
                prices=None if version is None else {name: version[name] for name in PRICE_FIELDS},
                overrides=[] if version is None else version["overrides"],
                context_length=context_length,
                max_completion_tokens=max_completion_tokens,
            )
        )
    return out
