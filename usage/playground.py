"""The playground's credentials: a per-user playground key, and short-lived signed tokens for the browser.

We store only hashes of key secrets, so the browser can never hold a key's secret. Instead the playground
page issues a token `tlpg_<signed payload>` bound to the user and to one of the user's keys, valid for
`PLAYGROUND_TOKEN_MAX_AGE` seconds. The gateway accepts it as a Bearer credential for that key
(`playground_token_claims` + a check that the key still belongs to that user), so playground calls are
ordinary gateway requests: same limits, same budget, same ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction

from usage.credentials import PLAYGROUND_TOKEN_PREFIX
from usage.models import ApiKey
from usage.services import api_key_create

PLAYGROUND_TOKEN_MAX_AGE = 3600  # seconds
_SALT = "tokenledger.playground.token"


@dataclass(frozen=True)
class PlaygroundClaims:
    user_id: int
    key_id: int


def playground_token_issue(*, user, api_key: ApiKey) -> str:
    """A token for the browser, standing for `api_key` used by `user`, for PLAYGROUND_TOKEN_MAX_AGE."""
    if api_key.owner_id != user.pk:
        raise ValueError("a playground token is only issued for the user's own key")
    value = signing.dumps({"u": user.pk, "k": api_key.pk}, salt=_SALT, compress=False)
    return PLAYGROUND_TOKEN_PREFIX + value


def playground_token_claims(
    token: str, *, max_age: int = PLAYGROUND_TOKEN_MAX_AGE
) -> PlaygroundClaims | None:
    """The (user, key) a playground token stands for, or None when it is forged, malformed or expired.

    The caller must still check that the key exists, is usable, and belongs to `user_id`.
    """
    if not token.startswith(PLAYGROUND_TOKEN_PREFIX):
        return None
    try:
        data = signing.loads(token[len(PLAYGROUND_TOKEN_PREFIX) :], salt=_SALT, max_age=max_age)
        return PlaygroundClaims(user_id=int(data["u"]), key_id=int(data["k"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def playground_api_key(token: str) -> ApiKey | None:
    """The key a valid playground token stands for (the gateway's hook for `tlpg_` Bearer credentials).

    None when the token is forged or expired, the key is gone, or no longer belongs to that (active) user.
    Revocation, expiry, budget and limits are then checked by the gateway as for any other key.
    """
    claims = playground_token_claims(token)
    if claims is None:
        return None
    return ApiKey.objects.filter(pk=claims.key_id, owner_id=claims.user_id, owner__is_active=True).first()


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
