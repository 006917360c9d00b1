"""Celery task for the scheduled catalogue sync (schedule: CATALOG_SYNC_SCHEDULE, in django-celery-beat).

Also the `sync_catalog` management command. Two runs never overlap (SyncLock); `expires` drops a run that
waited in the queue past its next turn. A held sync (catalog.services.sync_checks) is no error here: the
service records the held SyncRun and logs one warning line.
"""

from __future__ import annotations

from celery import shared_task

SYNC_EXPIRES_SECONDS = 50 * 60  # the default schedule runs hourly


@shared_task(name="catalog.sync_catalog", ignore_result=True, expires=SYNC_EXPIRES_SECONDS)
def sync_catalog(url: str | None = None) -> int:
    """Fetch and apply the Models API listing; returns the SyncRun id."""
    from catalog.services.sync import catalog_fetch_and_sync

    return catalog_fetch_and_sync(url=url).pk
