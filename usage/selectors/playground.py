"""The playground page's reads: the user's own usable keys, the models they use most, a reply's ledger row,
and the key a playground token stands for (the gateway's hook for `tlpg_` credentials)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from usage.credentials import playground_token_claims
from usage.models import ApiKey, HourlyRollup, LedgerEntry
from usage.selectors.ledger import MODEL_NAME
from usage.selectors.rollups import floor_hour, rollups_complete_until


def playground_keys(*, user, now: datetime | None = None) -> list[ApiKey]:
    """The user's own usable keys (not revoked, not expired), the playground key first."""
    now = now or timezone.now()
    return list(
        ApiKey.objects.filter(owner=user, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-is_playground", "name", "pk")
    )


def playground_most_used_models(
    *, user, limit: int = 8, days: int = 30, now: datetime | None = None
) -> list[str]:
    """The models the user's keys used most in the last `days` days, most used first.

    Hours already rolled up are counted from the hourly rollups, the rest from the raw ledger (a few
    minutes of it), so a long ledger costs no more than a short one. A model is the one that served,
    else the one requested (as in the rollups).
    """
    now = now or timezone.now()
    since = floor_hour(now - timedelta(days=days))
    rolled_until = max(since, min(rollups_complete_until() or since, now))
    counts: dict[str, int] = {}
    rolled = (
        HourlyRollup.objects.filter(api_key__owner=user, hour__gte=since, hour__lt=rolled_until)
        .exclude(model="")
        .values("model")
        .annotate(requests=Sum("requests"))
        .order_by()
    )
    raw = (
        LedgerEntry.objects.filter(api_key__owner=user, created_at__gte=rolled_until)
        .annotate(model=MODEL_NAME)
        .exclude(model="")
        .values("model")
        .annotate(requests=Count("id"))
        .order_by()
    )
    for row in [*rolled, *raw]:
        counts[row["model"]] = counts.get(row["model"], 0) + row["requests"]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [model for model, _requests in ranked[:limit]]


def playground_ledger_entry(*, user, request_id: str) -> LedgerEntry | None:
    """The ledger row of one of the user's requests, by our request id (the gateway's
    `x-tokenledger-request-id`): unique, where a generation id is not (a cache hit copies its original's)."""
    return LedgerEntry.objects.filter(api_key__owner=user, request_id=request_id).first()


def playground_api_key(token: str) -> ApiKey | None:
    """The key a valid playground token stands for (the gateway's hook for `tlpg_` Bearer credentials).

    None when the token is forged or expired, the key is gone, or no longer belongs to that (active) user.
    Revocation, expiry, budget and limits are then checked by the gateway as for any other key.
    """
    claims = playground_token_claims(token)
    if claims is None:
        return None
    return ApiKey.objects.filter(pk=claims.key_id, owner_id=claims.user_id, owner__is_active=True).first()
