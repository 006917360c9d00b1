"""Tell the gateway that what it keeps in memory changed: `gateway_changes_publish` bumps the version the
gateway compares on every request (usage/freshness.py), once the current transaction commits, so the very
next request reloads its snapshot (catalogue, prices, upstreams, aliases) and forgets its cached keys.

Bumped after the commit of: an alias or alias member, an upstream, an API key saved or deleted (signals,
so the admin's own saves count), services' bulk writes to those (they call it), and every change the
catalogue announces (catalog.changes.catalog_changed: models, price versions, syncs).
"""

from __future__ import annotations

import logging
import os
import time

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from catalog.changes import catalog_changed
from usage.freshness import version_file, version_key
from usage.models import Alias, AliasMember, ApiKey, Upstream

log = logging.getLogger("tokenledger.freshness")

_clients: dict[str, redis.Redis] = {}


def gateway_version_bump() -> None:
    """Bump the version now (Redis INCR, else the version file's mtime). Never raises: a bump that fails
    is logged, and the gateway's periodic refresh (GATEWAY_CATALOG_REFRESH_SECONDS) catches up."""
    try:
        url = settings.REDIS_URL
        if url:
            client = _clients.get(url)
            if client is None:
                client = _clients[url] = redis.Redis.from_url(url, socket_timeout=2)
            key = version_key(settings.GATEWAY_REDIS_PREFIX)
            # The new value, and a message to the gateways subscribed to the key's channel
            # (usage/gateway/freshness.py Watch). Redis writes the message to them in the same turn as the
            # reply to EXEC; the PING's reply comes after that turn, so on return the message is in every
            # subscribed gateway's socket on this host (on others, one network hop away).
            client.pipeline(transaction=True).incr(key).publish(key, b"").execute()
            client.ping()
        else:
            _touch(version_file(settings.DATA_DIR))
    except Exception:
        log.exception("the gateway was not told of a change: it reloads at its next periodic refresh")


def _touch(path) -> None:
    """Set the file's mtime to now in nanoseconds, and always past its previous one (a clock set back, two
    bumps within one clock tick), so every bump is a new value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    new = max(time.time_ns(), path.stat().st_mtime_ns + 1)
    os.utime(path, ns=(new, new))


def gateway_changes_publish() -> None:
    """Bump the version once the current transaction commits (at once outside one)."""
    transaction.on_commit(gateway_version_bump)


def _changed(sender, **kwargs) -> None:
    gateway_changes_publish()


def gateway_changes_connect() -> None:
    """Hook the signals (UsageConfig.ready)."""
    for model in (Alias, AliasMember, Upstream, ApiKey):
        post_save.connect(_changed, sender=model, dispatch_uid=f"gateway_changed_save_{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"gateway_changed_delete_{model.__name__}")
    catalog_changed.connect(_changed, dispatch_uid="gateway_changed_catalog")
