"""Writes of captured bodies (docs/gateway.md, "Capture"): stored by the ledger writer's process once
their rows are in, and pruned after CAPTURE_RETENTION_DAYS."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from usage.exchanges import Exchange
from usage.models import CapturedExchange, LedgerEntry
from usage.services.batched import delete_in_batches

logger = logging.getLogger(__name__)

PRUNE_BATCH_SIZE = 1000


def captured_exchanges_record(*, exchanges: Sequence[tuple[str, Exchange]]) -> int:
    """Store each (request id, exchange) whose ledger row is in and whose key captures (a key that turned
    capture off since keeps nothing more); one that is stored already stays as it is. Returns how many
    had their row."""
    by_id = dict(exchanges)
    entries = LedgerEntry.objects.filter(request_id__in=list(by_id), api_key__capture_bodies=True)
    captured = [
        CapturedExchange(
            entry_id=entry_id,
            created_at=created_at,
            request=exchange.request,
            request_text=exchange.request_text,
            reply=exchange.reply,
            reply_text=exchange.reply_text,
            truncated=exchange.truncated,
        )
        for entry_id, request_id, created_at in entries.values_list("id", "request_id", "created_at")
        for exchange in (by_id[request_id],)
    ]
    with transaction.atomic():
        CapturedExchange.objects.bulk_create(captured, ignore_conflicts=True)
    return len(captured)


@dataclass(frozen=True, slots=True)
class CapturePruneResult:
    deleted: int
    cutoff: datetime


def captures_prune(
    *, now: datetime | None = None, days: int | None = None, batch_size: int = PRUNE_BATCH_SIZE
) -> CapturePruneResult:
    """Delete captured bodies of requests older than `days` (CAPTURE_RETENTION_DAYS), in batches; their
    ledger rows stay."""
    days = settings.CAPTURE_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = delete_in_batches(
        CapturedExchange.objects.filter(created_at__lt=cutoff),
        order=("created_at", "entry_id"),
        batch_size=batch_size,
    )
    logger.info("capture retention: %d captured exchanges older than %s deleted", deleted, cutoff)
    return CapturePruneResult(deleted=deleted, cutoff=cutoff)
