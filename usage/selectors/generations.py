"""One gateway request as its key looks it up (GET /api/v1/generation?id=): by our request id, or by
OpenRouter's generation id, and the models a key's owner uses most (GET /api/v1/models?order=usage)."""

from __future__ import annotations

from datetime import datetime

from usage.models import ApiKey, LedgerEntry
from usage.selectors.spend_totals import models_by_usage


def key_request(*, api_key_id: int, lookup_id: str) -> LedgerEntry | None:
    """The key's request with this id, ours (request_id) or OpenRouter's (generation_id); another key's
    request is None, as is an unknown one. A generation id gives the request that was served: a response
    cache hit copies its original's generation id, and is never taken for it."""
    rows = LedgerEntry.objects.filter(api_key_id=api_key_id)
    found = rows.filter(request_id=lookup_id).first()
    if found is None:
        served = rows.filter(generation_id=lookup_id).exclude(status=LedgerEntry.Status.CACHED)
        found = served.order_by("created_at", "id").first()
    return found


def key_models_by_usage(*, api_key_id: int, start: datetime, end: datetime) -> list[str]:
    """The models most used over [start, end) by the key's owner, over all the owner's keys (by the key
    alone when it has no owner): most requests first, then most spent, then by id."""
    owner = ApiKey.objects.filter(pk=api_key_id).values_list("owner_id", flat=True).first()
    if owner is None:
        key_ids = [api_key_id]
    else:
        key_ids = list(ApiKey.objects.filter(owner_id=owner).values_list("pk", flat=True))
    return models_by_usage(key_ids=key_ids, start=start, end=end)
