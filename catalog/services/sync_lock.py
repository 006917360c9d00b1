"""The catalogue sync's lease and batching: two syncs never overlap, and a sync is a fixed number of queries.

Used by catalog.services.sync, which re-exports `catalog_sync_lock` and `SyncBusy`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from catalog.models import SyncLock

LOCK_NAME = "catalog_sync"
LOCK_LEASE = timedelta(minutes=15)  # a crashed sync blocks the next ones for this long at most
# PostgreSQL takes at most 65535 parameters a query: bulk updates stay well below.
MAX_PARAMS = 60_000


class SyncBusy(RuntimeError):
    """Another catalogue sync holds the lock."""


@contextlib.contextmanager
def catalog_sync_lock(*, holder: str = "") -> Iterator[None]:
    """Hold the catalogue sync lease, or raise SyncBusy at once. Works across processes and databases:
    one conditional UPDATE takes it (PostgreSQL row lock / SQLite write lock make it atomic)."""
    holder = (holder or f"{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns()}")[:200]
    wall = timezone.now()
    SyncLock.objects.bulk_create([SyncLock(name=LOCK_NAME)], ignore_conflicts=True)
    taken = SyncLock.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=wall), name=LOCK_NAME
    ).update(holder=holder, locked_until=wall + LOCK_LEASE)
    if not taken:
        lock = SyncLock.objects.filter(name=LOCK_NAME).first()
        since = f" (held by {lock.holder} until {lock.locked_until:%Y-%m-%d %H:%M:%S} UTC)" if lock else ""
        raise SyncBusy(f"another catalogue sync is running{since}")
    try:
        yield
    finally:
        SyncLock.objects.filter(name=LOCK_NAME, holder=holder).update(holder="", locked_until=None)


@contextlib.contextmanager
def whole_batches() -> Iterator[None]:
    """Let SQLite bulk queries use the real variable limit of the library (250 000 on Debian), not Django
    5.2's fixed 999, so a sync is a fixed number of queries (Django 6.0 reads the limit the same way)."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    features = connection.features
    before = features.__dict__.get("max_query_params")
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    features.max_query_params = max(999, min(limit, MAX_PARAMS))
    try:
        yield
    finally:
        if before is None:
            del features.max_query_params
        else:
            features.max_query_params = before
