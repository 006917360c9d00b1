"""Writes for manual models: models of other upstreams, entered in the admin with dated prices.

The catalogue sync never touches them (catalog.services.sync); see docs/routing.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion


def manual_model_id_validate(model_id: str) -> None:
    """ValidationError unless the id is "<author>/<name>" without spaces (author at most 100 characters)."""
    author, slash, rest = model_id.partition("/")
    if not slash or not author or not rest or any(c.isspace() for c in model_id) or len(author) > 100:
        raise ValidationError(
            f"Enter the id clients send, with the upstream's prefix, e.g. 'local/qwen3-8b': {model_id!r}."
        )


def _manual_raw(model: CatalogModel) -> dict:
    """What /api/v1/models lists for a manual model."""
    return {
        "id": model.model_id,
        "name": model.name,
        "description": model.description,
        "context_length": model.context_length,
        "created": int(model.created.timestamp()),
    }


def manual_model_add(
    *,
    model_id: str,
    name: str = "",
    context_length: int | None = None,
    description: str = "",
    now: datetime | None = None,
) -> CatalogModel:
    """Add a manual model (first_seen = last_seen = now; author = the id's part before "/")."""
    manual_model_id_validate(model_id)
    now = now or timezone.now()
    model = CatalogModel(
        model_id=model_id,
        source=CatalogModel.Source.MANUAL,
        author=model_id.split("/", 1)[0],
        name=name,
        context_length=context_length,
        description=description,
        created=now,
        first_seen=now,
        last_seen=now,
    )
    model.raw = _manual_raw(model)
    model.save()
    return model


def manual_model_update(
    *, catalog_model: CatalogModel, name: str, context_length: int | None, description: str
) -> CatalogModel:
    """Change a manual model's name, context length and description (its id never changes)."""
    if not catalog_model.is_manual:
        raise ValidationError("OpenRouter models are updated by the sync only.")
    catalog_model.name = name
    catalog_model.context_length = context_length
    catalog_model.description = description
    catalog_model.raw = _manual_raw(catalog_model)
    catalog_model.save(update_fields=["name", "context_length", "description", "raw", "updated_at"])
    return catalog_model


def price_version_validate(
    *, catalog_model: CatalogModel, valid_from: datetime, prices: Mapping[str, Decimal | None]
) -> None:
    """ValidationError (by field) unless this price version can be added: a manual model, known
    categories, no negative price, valid_from after the open version's."""
    if not catalog_model.is_manual:
        raise ValidationError("Prices of OpenRouter models come from the sync only.")
    errors: dict[str, str] = {}
    unknown = sorted(set(prices) - set(PRICE_FIELDS))
    if unknown:
        errors[NON_FIELD_ERRORS] = f"Unknown price categories: {', '.join(unknown)}."
    for name, value in prices.items():
        if value is not None and value < 0:
            errors[name] = "A price cannot be negative."
    current = PriceVersion.objects.filter(catalog_model=catalog_model, valid_to__isnull=True).first()
    if current is not None and valid_from <= current.valid_from:
        errors["valid_from"] = f"must be after {current.valid_from.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def price_version_add(
    *, catalog_model: CatalogModel, valid_from: datetime, prices: Mapping[str, Decimal | None]
) -> PriceVersion:
    """Close a manual model's open price version at valid_from and open one with these prices (USD per
    token/request; a category not given is 0, None is "variable"). ValidationError as price_version_validate.
    """
    CatalogModel.objects.select_for_update().filter(pk=catalog_model.pk).first()  # one writer per model
    price_version_validate(catalog_model=catalog_model, valid_from=valid_from, prices=prices)
    current = PriceVersion.objects.filter(catalog_model=catalog_model, valid_to__isnull=True)
    current.update(valid_to=valid_from)
    return PriceVersion.objects.create(
        catalog_model=catalog_model,
        valid_from=valid_from,
        **{name: prices.get(name, Decimal(0)) for name in PRICE_FIELDS},
    )
