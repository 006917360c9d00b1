"""Writes of our API keys: create (the secret is shown once, stored as its SHA-256), revoke, and the user's
playground key, created on first use."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from usage.credentials import SECRET_PREFIX, VISIBLE_PREFIX_LENGTH, secret_hash
from usage.models import ApiKey


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
    capture_bodies: bool = False,
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
        capture_bodies=capture_bodies,
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


def playground_key_get_or_create(*, user) -> ApiKey:
    """The user's playground key, created on first use (its secret is never shown: the page uses tokens)."""
    with transaction.atomic():
        # Serialise concurrent first uses by the same user (two tabs): one playground key per user.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        key = ApiKey.objects.filter(owner=user, is_playground=True, revoked_at__isnull=True).first()
        if key is None:
            key, _secret = api_key_create(
                name=f"Playground ({user.get_username()})", owner=user, is_playground=True
            )
        return key
