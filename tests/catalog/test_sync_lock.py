"""Two syncs never overlap: a lease held by another connection (another worker) stops a second sync."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from catalog.models import CatalogModel, SyncRun
from catalog.services.sync import catalog_sync, catalog_sync_lock

LISTING = [{"id": "acme/a", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}]


@pytest.mark.django_db(transaction=True)
def test_a_sync_started_while_another_worker_syncs_fails_and_writes_nothing():
    holding, release, errors = threading.Event(), threading.Event(), []

    def other_worker():
        try:
            with catalog_sync_lock(holder="worker 2"):
                holding.set()
                release.wait(timeout=30)
        except Exception as exc:  # surfaced by the assert below
            errors.append(exc)
            holding.set()
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        blocked = catalog_sync(payload=LISTING, source="worker 1", now=datetime(2026, 1, 1, tzinfo=UTC))
    finally:
        release.set()
        thread.join(timeout=30)

    assert errors == []
    assert (blocked.status, blocked.error.split(" until ")[0]) == (
        SyncRun.Status.FAILED,
        "another catalogue sync is running (held by worker 2",
    )
    assert not CatalogModel.objects.exists()
    after = catalog_sync(payload=LISTING, source="worker 1 again", now=datetime(2026, 1, 2, tzinfo=UTC))
    assert (after.status, after.added) == (SyncRun.Status.OK, 1)
