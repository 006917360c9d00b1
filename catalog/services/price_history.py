"""Backdating: a synced model's first price version holds from its publication (OpenRouter's `created`).

A sync does this for the models it adds (catalog.services.sync); `first_prices_backdate` does it for those
loaded before it did, from migration 0006. Manual models keep what was entered: their `created` is the day
they were added in the admin and their prices' dates were chosen by a person.
"""

from __future__ import annotations

from catalog.models import CatalogModel, PriceVersion

# Rows per UPDATE batch (3 parameters a row: well under SQLite's and PostgreSQL's limits).
BATCH = 500


def first_prices_backdate(*, version_cls=PriceVersion) -> int:
    """Move the earliest price version of each OpenRouter model back to the model's `created`, when that is
    earlier; returns how many moved. `version_cls` is a parameter so a migration can pass its historical one.
    """
    earliest = {}
    rows = (
        version_cls.objects.filter(
            catalog_model__source=CatalogModel.Source.OPENROUTER.value, catalog_model__created__isnull=False
        )
        .order_by("catalog_model_id", "valid_from")
        .values_list("pk", "catalog_model_id", "valid_from", "catalog_model__created")
    )
    for pk, model_pk, valid_from, created in rows.iterator():
        if model_pk not in earliest:
            earliest[model_pk] = (pk, valid_from, created)
    moved = [
        version_cls(pk=pk, valid_from=created)
        for pk, valid_from, created in earliest.values()
        if created < valid_from
    ]
    version_cls.objects.bulk_update(moved, ["valid_from"], batch_size=BATCH)
    return len(moved)
