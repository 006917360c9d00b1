"""Key holders opting in to their own keys' alerts, by the e-mail on their user (the keys page)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from usage.models import AlertSubscription, ApiKey


def alert_subscription_set(*, user, api_key: ApiKey, on: bool) -> bool:
    """Subscribe (on) or unsubscribe the key's owner; whether they are subscribed now. Only the key's owner,
    with an e-mail on their user, may subscribe (PermissionDenied otherwise)."""
    if on:
        if api_key.owner_id != user.pk:
            raise PermissionDenied("Only a key's owner can receive its alerts.")
        if not (user.email or "").strip():
            raise PermissionDenied("Add an e-mail address to your account to receive alerts.")
        AlertSubscription.objects.get_or_create(user=user, api_key=api_key)
        return True
    AlertSubscription.objects.filter(user=user, api_key=api_key).delete()
    return False
