"""Our keys and their spend: a key's spend in its budget period (as the gateway's budget counts it), the keys
page's rows with the burn-rate forecast, and the gateway's lookup of a key by its secret's hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import F, Sum
from django.utils import timezone

from usage.costs import SPENT_COST
from usage.models import ApiKey, LedgerEntry
from usage.periods import period_end, period_start  # the budget periods exactly as the gateway counts them
from usage.selectors.spend import ZERO
from usage.selectors.spend_totals import spend_by_key
from usage.selectors.visibility import visible_keys


def key_period_start(*, api_key: ApiKey, now: datetime | None = None) -> datetime | None:
    """When the key's current budget period began (None: the period never resets)."""
    return period_start(api_key.budget_period, now or timezone.now())


def key_spend_since(*, api_key_id: int, since: datetime | None) -> Decimal:
    """What the key spent since `since` (ever, when None): OpenRouter's cost where given, else ours."""
    rows = LedgerEntry.objects.filter(api_key_id=api_key_id)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    total = rows.aggregate(spent=Sum(SPENT_COST))["spent"]
    return total if total is not None else Decimal(0)


def key_spend_in_period(*, api_key: ApiKey, now: datetime | None = None) -> Decimal:
    """What the key spent in its current budget period (as the gateway's budget counts it)."""
    return key_spend_since(api_key_id=api_key.pk, since=key_period_start(api_key=api_key, now=now))


def api_key_by_secret_hash(*, digest: str) -> ApiKey | None:
    """The key whose secret has this SHA-256 (usage.credentials.secret_hash), revoked or not."""
    return ApiKey.objects.filter(secret_hash=digest).first()


@dataclass
class KeyRow:
    key: ApiKey
    spent: Decimal  # this budget period
    remaining: Decimal | None
    daily_rate: Decimal  # average spend per day over the last 7 days
    runs_out_at: datetime | None  # at that rate, when the budget is spent (None: not within the period)
    resets_at: datetime | None
    forecast: str

    @property
    def is_active(self) -> bool:
        return self.key.revoked_at is None and (
            self.key.expires_at is None or self.key.expires_at > timezone.now()
        )


FORECAST_DAYS = 7


def keys_overview(*, user, now: datetime | None = None, budgeted_only: bool = False) -> list[KeyRow]:
    """The keys `user` may see with their spend and forecast (`budgeted_only`: those with a budget)."""
    now = now or timezone.now()
    keys = visible_keys(user=user)
    if budgeted_only:
        keys = keys.filter(budget_usd__isnull=False)
    keys = list(keys.select_related("owner").order_by(F("revoked_at").asc(nulls_first=True), "name", "id"))
    return key_rows(keys=keys, now=now)


def key_rows(*, keys: list[ApiKey], now: datetime, spent: dict[int, Decimal] | None = None) -> list[KeyRow]:
    """Each key's spend this period (read, unless `spent` gives it), remaining budget and burn-rate forecast
    (the keys page, the home page, the alerts)."""
    if not keys:
        return []
    recent = spend_by_key(since={key.id: now - timedelta(days=FORECAST_DAYS) for key in keys}, end=now)
    if spent is None:
        spent = spend_by_key(since={key.id: period_start(key.budget_period, now) for key in keys}, end=now)
    rows = []
    for key in keys:
        key_spent = spent.get(key.id, ZERO)
        rate = recent.get(key.id, ZERO) / FORECAST_DAYS
        resets_at = period_end(key.budget_period, period_start(key.budget_period, now))
        remaining = None if key.budget_usd is None else max(key.budget_usd - key_spent, ZERO)
        runs_out_at, forecast = _forecast(remaining=remaining, rate=rate, now=now, resets_at=resets_at)
        rows.append(
            KeyRow(
                key=key,
                spent=key_spent,
                remaining=remaining,
                daily_rate=rate,
                runs_out_at=runs_out_at,
                resets_at=resets_at,
                forecast=forecast,
            )
        )
    return rows


def _forecast(
    *, remaining: Decimal | None, rate: Decimal, now: datetime, resets_at: datetime | None
) -> tuple[datetime | None, str]:
    if remaining is None:
        return None, "no budget"
    if remaining <= 0:
        return now, "budget spent"
    if rate <= 0:
        return None, "no spend in the last 7 days"
    runs_out_at = now + timedelta(days=float(remaining / rate))
    if resets_at is not None and runs_out_at >= resets_at:
        return None, "lasts until the period resets"
    return runs_out_at, f"runs out around {runs_out_at:%Y-%m-%d %H:00} UTC"


def user_named(*, username: str):
    """The user with this username (a key's owner), or None."""
    return get_user_model().objects.filter(username=username).first()
