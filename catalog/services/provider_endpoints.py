"""Services for a model's provider endpoints: GET <OPENROUTER_BASE_URL>/models/{author}/{slug}/endpoints.

The whole response is read and checked before anything is written; then the model's rows are replaced in
one transaction. A failed fetch or a malformed body raises EndpointsError and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.fetch import FetchError, fetch_models
from catalog.models import CatalogModel, ProviderEndpoint
from catalog.payload import PayloadError, _count, _decode, _price, _strings, _text


class EndpointsError(RuntimeError):
    """The endpoints could not be fetched or read; the message says why (nothing was changed)."""


def endpoints_url(model_id: str) -> str:
    author, _, slug = model_id.partition("/")
    return (
        f"{settings.OPENROUTER_BASE_URL}/models/{quote(author, safe='')}/{quote(slug, safe='/:')}/endpoints"
    )


def _uptime(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 100 else None


def _stat(value: Any) -> Any:
    """A latency/throughput figure as reported: a number or an object of numbers with a p50, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, dict):
        kept = {k: v for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        return kept if "p50" in kept else None
    return None


def parse_endpoints(*, model_id: str, body: bytes | str | dict) -> list[dict]:
    """The endpoint rows of a body (field dicts for ProviderEndpoint); EndpointsError if malformed."""
    try:
        document = _decode(body)
    except PayloadError as exc:
        raise EndpointsError(str(exc)) from None
    data = document.get("data") if isinstance(document, dict) else None
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    if not isinstance(endpoints, list):
        raise EndpointsError('the body has no "data": {"endpoints": [...]} list')
    rows = []
    for position, item in enumerate(endpoints):
        if not isinstance(item, dict) or not isinstance(item.get("provider_name"), str):
            raise EndpointsError(f"endpoint {position} has no provider_name")
        pricing = item.get("pricing") if isinstance(item.get("pricing"), dict) else {}
        try:
            prompt = _price(model_id, "prompt", pricing.get("prompt", "0"))
            completion = _price(model_id, "completion", pricing.get("completion", "0"))
        except PayloadError as exc:
            raise EndpointsError(f"endpoint {position} ({item['provider_name']}): {exc}") from None
        rows.append(
            {
                "name": _text(item.get("name"), 300),
                "provider_name": item["provider_name"][:100],
                "tag": _text(item.get("tag"), 100),
                "quantization": _text(item.get("quantization"), 40),
                "context_length": _count(item.get("context_length")),
                "max_completion_tokens": _count(item.get("max_completion_tokens")),
                "max_prompt_tokens": _count(item.get("max_prompt_tokens")),
                "pricing": {k: v for k, v in pricing.items() if isinstance(v, str | int | float)},
                "prompt": prompt,
                "completion": completion,
                "uptime_last_30m": _uptime(item.get("uptime_last_30m")),
                "latency_last_30m": _stat(item.get("latency_last_30m")),
                "throughput_last_30m": _stat(item.get("throughput_last_30m")),
                "supported_parameters": _strings(item.get("supported_parameters")),
                "status": _text(item.get("status"), 40),
            }
        )
    return rows


def catalog_fetch_endpoints(
    *,
    model_id: str,
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
) -> list[ProviderEndpoint]:
    """Fetch a model's provider endpoints, replace its rows; EndpointsError (nothing changed) on failure."""
    catalog_model = CatalogModel.objects.filter(model_id=model_id).first()
    if catalog_model is None:
        raise EndpointsError(f"unknown model {model_id!r}: sync the catalogue first")
    url = endpoints_url(model_id)
    try:
        body = fetch_models(url=url, transport=transport)
    except FetchError as exc:
        raise EndpointsError(str(exc)) from None
    rows = parse_endpoints(model_id=model_id, body=body)
    fetched_at = now or timezone.now()
    endpoints = [ProviderEndpoint(catalog_model=catalog_model, fetched_at=fetched_at, **row) for row in rows]
    with transaction.atomic():
        ProviderEndpoint.objects.filter(catalog_model=catalog_model).delete()
        ProviderEndpoint.objects.bulk_create(endpoints)
    return endpoints
