"""The response cache's database store (when no Redis is configured): one CachedResponse row per entry.

The gateway's cache (usage/gateway/cache.py) decides what is cached and holds the payload's format.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from usage.models import CachedResponse


def cached_response_payload(*, key: str, now: datetime) -> bytes | None:
    """The payload stored under `key`, unless it expired."""
    payload = (
        CachedResponse.objects.filter(key=key, expires_at__gt=now).values_list("payload", flat=True).first()
    )
    return None if payload is None else bytes(payload)


def cached_response_store(*, key: str, payload: bytes, now: datetime, ttl_seconds: int, prune: bool) -> None:
    """Store (or replace) an entry for `ttl_seconds`; with `prune`, also delete the expired ones."""
    CachedResponse.objects.update_or_create(
        key=key,
        defaults={"created_at": now, "expires_at": now + timedelta(seconds=ttl_seconds), "payload": payload},
    )
    if prune:
        CachedResponse.objects.filter(expires_at__lte=now).delete()
