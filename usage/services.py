"""Writes of the usage app: API keys we issue, and the ledger rows the gateway records."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from usage.models import ApiKey, LedgerEntry

SECRET_PREFIX = "tl-"
VISIBLE_PREFIX_LENGTH = 11  # "tl-" and 8 characters of the secret: shown in lists, never enough to use


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_create(
    *,
    name: str,
    owner=None,
    budget_usd: Decimal | None = None,
    budget_period: str = ApiKey.Period.MONTHLY,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    allowed_models: Iterable[str] = (),
    expires_at: datetime | None = None,
    tags: Iterable[str] = (),
    is_playground: bool = False,
    cache_responses: bool = False,
) -> tuple[ApiKey, str]:
    """A new key; returns it with its secret, which is stored only as a SHA-256 hash (show it once)."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        owner=owner,
        prefix=secret[:VISIBLE_PREFIX_LENGTH],
        secret_hash=secret_hash(secret),
        budget_usd=budget_usd,
        budget_period=budget_period or ApiKey.Period.MONTHLY,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        allowed_models=list(allowed_models or ()),
        expires_at=expires_at,
        tags=list(tags or ()),
        is_playground=is_playground,
        cache_responses=cache_responses,
    )
    key.full_clean(exclude=["owner"])
    with transaction.atomic():
        key.save()
    return key, secret


def api_key_revoke(*, api_key: ApiKey, now: datetime | None = None) -> ApiKey:
    """Revoke a key (idempotent); gateways stop accepting it within GATEWAY_KEY_CACHE_SECONDS."""
    if api_key.revoked_at is None:
        api_key.revoked_at = now or timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


LEDGER_FIELDS = frozenset(
    field.attname for field in LedgerEntry._meta.concrete_fields if not field.primary_key
) | frozenset(field.name for field in LedgerEntry._meta.concrete_fields if field.is_relation)


def ledger_record_many(*, rows: Sequence[dict[str, Any]]) -> int:
    """Write gateway ledger rows (dicts of LedgerEntry fields, `api_key_id` etc.) in one transaction.

    Also moves each key's last_used_at forward to its newest row. Returns the number of rows written.
    """
    if not rows:
        return 0
    entries = [LedgerEntry(**{k: v for k, v in row.items() if k in LEDGER_FIELDS}) for row in rows]
    last_used: dict[int, datetime] = {}
    for entry in entries:
        if entry.api_key_id is not None and entry.status != LedgerEntry.Status.REJECTED:
            previous = last_used.get(entry.api_key_id)
            if previous is None or entry.created_at > previous:
                last_used[entry.api_key_id] = entry.created_at
    with transaction.atomic():
        LedgerEntry.objects.bulk_create(entries, batch_size=500)
        for key_id, when in last_used.items():
            ApiKey.objects.filter(pk=key_id).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=when)
            ).update(last_used_at=when)
    return len(entries)
