"""Our API keys and playground tokens: their look, how a secret is stored (its SHA-256, never itself), and
the playground's signed tokens.

We store only hashes of key secrets, so the browser can never hold a key's secret. Instead the playground
page issues a token `tlpg_<signed payload>` bound to the user and to one of the user's keys, valid for
PLAYGROUND_TOKEN_MAX_AGE seconds. The gateway accepts it as a Bearer credential for that key (the key it
stands for: usage.selectors.playground.playground_api_key), so playground calls are ordinary gateway
requests: same limits, same budget, same ledger.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core import signing

if TYPE_CHECKING:
    from usage.models import ApiKey

SECRET_PREFIX = "tl-"
VISIBLE_PREFIX_LENGTH = 11  # "tl-" and 8 characters of the secret: shown in lists, never enough to use
PLAYGROUND_TOKEN_PREFIX = "tlpg_"  # the playground page hands the browser signed tokens (see below)


def secret_hash(secret: str) -> str:
    """The hex SHA-256 a key's secret is stored and looked up by (any string: lone surrogates included)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


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
