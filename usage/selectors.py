"""Reads of the usage app: keys, their spend, the ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from usage.models import ApiKey, LedgerEntry

# ---- Keys and budgets (gateway) ----


def key_period_start(*, api_key: ApiKey, now: datetime | None = None) -> datetime | None:
    """When the key's current budget period began (None: the period never resets)."""
    from usage.gateway.limits import period_start

    return period_start(api_key.budget_period, now or timezone.now())


def key_spend_since(*, api_key_id: int, since: datetime | None) -> Decimal:
    """What the key spent since `since` (ever, when None): OpenRouter's cost where given, else ours."""
    rows = LedgerEntry.objects.filter(api_key_id=api_key_id)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    total = rows.aggregate(spent=Sum(Coalesce("reported_cost", "computed_cost")))["spent"]
    return total if total is not None else Decimal(0)


def key_spend_in_period(*, api_key: ApiKey, now: datetime | None = None) -> Decimal:
    """What the key spent in its current budget period (as the gateway's budget counts it)."""
    return key_spend_since(api_key_id=api_key.pk, since=key_period_start(api_key=api_key, now=now))
