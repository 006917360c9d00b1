"""`catalog_changed`: sent once a change to what the catalogue prices or lists is committed.

The catalogue knows nothing of who caches it (the gateway keeps the model ids and prices in memory): it
announces its changes, and usage (usage/services/freshness.py) listens. Sent after the commit of:
- a model or a price version saved or deleted one by one (the admin, manual models and their prices);
- a catalogue sync that ended ok (its SyncRun saved with status ok): the sync's bulk writes send no
  per-row signals, its run's last save stands for all of them.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal

from catalog.models import CatalogModel, ManualPriceVersion, PriceVersion, SyncRun

catalog_changed = Signal()


def catalog_changed_send() -> None:
    """Send `catalog_changed` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: catalog_changed.send(sender=CatalogModel))


def _row_changed(sender, **kwargs) -> None:
    catalog_changed_send()


def _sync_finished(sender, instance: SyncRun, **kwargs) -> None:
    if instance.status == SyncRun.Status.OK:
        catalog_changed_send()


def catalog_changes_connect() -> None:
    """Hook the models' signals (CatalogConfig.ready)."""
    for model in (CatalogModel, PriceVersion, ManualPriceVersion):
        post_save.connect(_row_changed, sender=model, dispatch_uid=f"catalog_changed_save_{model.__name__}")
        post_delete.connect(
            _row_changed, sender=model, dispatch_uid=f"catalog_changed_delete_{model.__name__}"
        )
    post_save.connect(_sync_finished, sender=SyncRun, dispatch_uid="catalog_changed_sync")
