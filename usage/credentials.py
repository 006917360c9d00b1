"""Our API keys and playground tokens: their look, and how a secret is stored (its SHA-256, never itself)."""

from __future__ import annotations

import hashlib

SECRET_PREFIX = "tl-"
VISIBLE_PREFIX_LENGTH = 11  # "tl-" and 8 characters of the secret: shown in lists, never enough to use
PLAYGROUND_TOKEN_PREFIX = "tlpg_"  # the playground page hands the browser signed tokens (usage/playground.py)


def secret_hash(secret: str) -> str:
    """The hex SHA-256 a key's secret is stored and looked up by (any string: lone surrogates included)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
