"""The gateway's hook for the playground: a `tlpg_` Bearer token stands for one of its user's keys.

The playground page (dashboard/playground.py) issues the token; see usage/playground.py. The key it stands
for then goes through the same checks as any other (revoked, expired, budget, limits, allowed models).
"""

from __future__ import annotations

from usage.gateway.state import KeyInfo, load_key
from usage.playground import PLAYGROUND_TOKEN_PREFIX, playground_api_key


def is_playground_token(secret: str) -> bool:
    return secret.startswith(PLAYGROUND_TOKEN_PREFIX)


def load_playground_key(token: str) -> KeyInfo | None:
    """The key a valid playground token stands for (sync: runs in the gateway's database thread)."""
    key = playground_api_key(token)
    return None if key is None else load_key(key.secret_hash)
