"""Entries in the shape of OpenRouter's Models API (GET /api/v1/models), for models the sync did not bring:
manual models, and any stored entry missing a field. Pure functions over plain values.

Prices are strings of USD per unit, as OpenRouter writes them: "-1" for variable (a NULL price), `prompt`
and `completion` always, other categories only when not zero (catalog.payload reads them back the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

REQUIRED_PRICES = ("prompt", "completion")
VARIABLE = "-1"


def price_string(value: Decimal | None) -> str:
    """A price as OpenRouter writes it: "0.00000015", "0", "-1" for variable."""
    if value is None:
        return VARIABLE
    text = format(value.normalize(), "f")
    return "0" if Decimal(text) == 0 else text


def pricing_object(
    prices: Mapping[str, Decimal | None] | None, extra: Mapping[str, Any] | None = None
) -> dict:
    """A price version's categories as a Models API `pricing` object; no version: variable prices."""
    if prices is None:
        return {name: VARIABLE for name in REQUIRED_PRICES}
    pricing = {name: price_string(prices.get(name, Decimal(0))) for name in REQUIRED_PRICES}
    for name, value in prices.items():
        if name not in pricing and (value is None or value != 0):
            pricing[name] = price_string(value)
    for name, value in (extra or {}).items():
        if name not in pricing:
            pricing[name] = VARIABLE if value is None else str(value)
    return pricing


def model_entry(
    *,
    model_id: str,
    name: str,
    description: str,
    created: datetime | None,
    context_length: int | None,
    modality: str = "",
    input_modalities: list | None = None,
    output_modalities: list | None = None,
    tokenizer: str = "",
    instruct_type: str = "",
    hugging_face_id: str = "",
    canonical_slug: str = "",
    max_completion_tokens: int | None = None,
    supported_parameters: list | None = None,
    default_parameters: dict | None = None,
    per_request_limits: dict | None = None,
    knowledge_cutoff: str = "",
    expiration_date: date | None = None,
    pricing: dict,
) -> dict:
    """Every field OpenRouter lists for a model (its 2026 shape), from what we know of one."""
    return {
        "id": model_id,
        "canonical_slug": canonical_slug or model_id,
        "hugging_face_id": hugging_face_id,
        "name": name or model_id,
        "created": int(created.timestamp()) if created else 0,
        "description": description,
        "context_length": context_length,
        "architecture": {
            "modality": modality or "text->text",
            "input_modalities": input_modalities or ["text"],
            "output_modalities": output_modalities or ["text"],
            "tokenizer": tokenizer or "Other",
            "instruct_type": instruct_type or None,
        },
        "pricing": pricing,
        "top_provider": {
            "context_length": context_length,
            "max_completion_tokens": max_completion_tokens,
            "is_moderated": False,
        },
        "per_request_limits": per_request_limits,
        "supported_parameters": supported_parameters or [],
        "default_parameters": default_parameters or {},
        "supported_voices": None,
        "knowledge_cutoff": knowledge_cutoff or None,
        "expiration_date": expiration_date.isoformat() if expiration_date else None,
        "links": {"details": ""},  # no endpoints page of OpenRouter's for a model it does not list
    }


def completed(raw: Mapping[str, Any], full: dict) -> dict:
    """A stored listing entry with what it lacks of the full shape (`full`) filled in; its own fields win."""
    return {**full, **raw} if isinstance(raw, Mapping) else full
