"""Deleting many rows without one long transaction: the retention jobs (prune_ledger, prune_captures)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet


def delete_in_batches(rows: QuerySet, *, order: tuple[str, ...], batch_size: int) -> int:
    """Delete `rows` oldest first (`order`, ending with a unique field), `batch_size` at a time, each batch in
    a transaction of its own; returns how many were deleted (cascades included)."""
    pk = rows.model._meta.pk.attname
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(rows.order_by(*order).values_list(pk, flat=True)[:batch_size])
            if not ids:
                return deleted
            count, _ = rows.model.objects.filter(**{f"{pk}__in": ids}).delete()
        deleted += count
