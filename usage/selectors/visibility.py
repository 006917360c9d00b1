"""Who sees what, the one rule every page, export and selector uses: staff see every key and every ledger
row; other users the keys they own, and those keys' rows and rollups (healthchecks' _get_check_for_user)."""

from __future__ import annotations

from django.db.models import QuerySet

from usage.models import ApiKey, HourlyRollup, LedgerEntry


def visible(queryset: QuerySet, *, user, owner: str) -> QuerySet:
    """`queryset` as `user` may see it; `owner` is the path from its rows to the owning user."""
    return queryset if user.is_staff else queryset.filter(**{owner: user})


def visible_keys(*, user) -> QuerySet[ApiKey]:
    """By name (then id)."""
    return visible(ApiKey.objects.order_by("name", "pk"), user=user, owner="owner")


def visible_key(*, user, key_id: int) -> ApiKey | None:
    """One key, if the user may see it (None for someone else's key and for none at all alike)."""
    return visible_keys(user=user).filter(pk=key_id).first()


def visible_ledger(*, user) -> QuerySet[LedgerEntry]:
    return visible(LedgerEntry.objects.all(), user=user, owner="api_key__owner")


def visible_rollups(*, user, model=HourlyRollup) -> QuerySet:
    return visible(model.objects.all(), user=user, owner="api_key__owner")
