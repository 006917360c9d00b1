"""Feed tokens as read: the user a feed URL's token stands for, and a user's token for the changes page."""

from __future__ import annotations

import hashlib

from catalog.models import FeedToken

PREFIX = "tlfeed_"


def feed_token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def feed_token_lookup(*, secret: str) -> FeedToken | None:
    """The live token (with its active user) a secret stands for, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    return (
        FeedToken.objects.select_related("user")
        .filter(token_hash=feed_token_hash(secret), user__is_active=True)
        .first()
    )


def feed_token_of(*, user) -> FeedToken | None:
    return FeedToken.objects.filter(user=user).first()
