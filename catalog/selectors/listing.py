"""The Models API listing the gateway serves (GET /api/v1/models): every current model in OpenRouter's shape,
`pricing` included. A synced model is its listing entry as received; a manual model (or an entry missing
fields) is completed from its columns and its open price version (catalog.models_api)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion
from catalog.models_api import completed, model_entry, pricing_object


@dataclass(frozen=True, slots=True)
class ListedModel:
    model_id: str
    openrouter: bool  # synced from OpenRouter (not a manual model of another upstream)
    entry: dict  # the Models API object


def models_listing() -> list[ListedModel]:
    """Every current model, newest first (undated ones last): two queries."""
    versions = {
        row["catalog_model_id"]: row
        for row in PriceVersion.objects.filter(
            valid_to__isnull=True, catalog_model__retired_at__isnull=True
        ).values("catalog_model_id", "extra", *PRICE_FIELDS)
    }
    out = []
    newest_first = (F("created").desc(nulls_last=True), "model_id")  # the same order on SQLite and PostgreSQL
    for model in CatalogModel.objects.filter(retired_at__isnull=True).order_by(*newest_first):
        version = versions.get(model.pk)
        prices = None if version is None else {name: version[name] for name in PRICE_FIELDS}
        full = model_entry(
            model_id=model.model_id,
            name=model.name,
            description=model.description,
            created=model.created,
            context_length=model.context_length,
            modality=model.modality,
            input_modalities=model.input_modalities,
            output_modalities=model.output_modalities,
            tokenizer=model.tokenizer,
            instruct_type=model.instruct_type,
            hugging_face_id=model.hugging_face_id,
            canonical_slug=model.canonical_slug,
            max_completion_tokens=model.max_completion_tokens,
            supported_parameters=model.supported_parameters,
            default_parameters=model.default_parameters,
            per_request_limits=model.per_request_limits,
            knowledge_cutoff=model.knowledge_cutoff,
            expiration_date=model.expiration_date,
            pricing=pricing_object(prices, None if version is None else version["extra"]),
        )
        openrouter = not model.is_manual
        # A manual model's raw is what the admin entered: its prices are the open version's, never raw's.
        entry = (
            completed(model.raw, full)
            if openrouter
            else {**completed(model.raw, full), "pricing": full["pricing"]}
        )
        out.append(ListedModel(model.model_id, openrouter, entry))
    return out
