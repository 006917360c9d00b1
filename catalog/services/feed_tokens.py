"""Feed tokens: a user's read-only secret for the catalogue-changes Atom feed (a feed reader cannot log in).

The secret is shown once; only its SHA-256 is stored. Creating one replaces the user's previous token;
revoking deletes it. Reads: catalog.selectors.feed_tokens.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from catalog.models import FeedToken
from catalog.selectors.feed_tokens import PREFIX, feed_token_hash


def feed_token_create(*, user) -> str:
    """A new secret for `user` (any earlier one stops working); the only time it is seen in full."""
    secret = PREFIX + secrets.token_urlsafe(24)
    with transaction.atomic():
        FeedToken.objects.filter(user=user).delete()
        FeedToken.objects.create(
            user=user,
            token_hash=feed_token_hash(secret),
            prefix=secret[: len(PREFIX) + 4],
            created_at=timezone.now(),
        )
    return secret


def feed_token_revoke(*, user) -> bool:
    """Delete the user's token; whether there was one."""
    return FeedToken.objects.filter(user=user).delete()[0] > 0


def feed_token_used(*, token: FeedToken) -> None:
    """Note the token's last use (at most once a minute: a reader may poll often)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= 60:
        FeedToken.objects.filter(pk=token.pk).update(last_used_at=now)
