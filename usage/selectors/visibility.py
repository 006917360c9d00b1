"""Who sees what, the one rule every page, export and selector uses: staff see every key and every ledger
row; other users the keys they own, and those keys' rows and rollups (healthchecks' _get_check_for_user)."""

from __future__ import annotations

from django.db.models import QuerySet

from usage.models import ApiKey, HourlyRollup, LedgerEntry


def visible(queryset: QuerySet, *, user, owner: str) -> QuerySet:
    """`queryset` as `user` may see it; `owner` is the path from its rows to the owning user."""
    return queryset if user.is_staff else queryset.filter(**{owner: user})


def visible_keys(*, user) -> QuerySet[ApiKey]:
    return visible(ApiKey.objects.all(), user=user, owner="owner")


def visible_ledger(*, user) -> QuerySet[LedgerEntry]:
    return visible(LedgerEntry.objects.all(), user=user, owner="api_key__owner")


def visible_rollups(*, user, model=HourlyRollup) -> QuerySet:
    return visible(model.objects.all(), user=user, owner="api_key__owner")
