"""Reads of the catalogue shared by the gateway and the pages: prices now, at an instant, over time, and
what changed. (The pages' own reads are in catalog/page_selectors.py.)"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from catalog.models import PriceVersion, SyncRun


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
