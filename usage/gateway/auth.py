"""Who is asking: the bearer credential, our keys as the gateway sees them, and the key cache.

A key is looked up by the SHA-256 of its secret before the request body is read, so an unknown key costs
no body read. Looked-up keys are trusted for GATEWAY_KEY_CACHE_SECONDS: past half of it a request still
uses the cached key and refreshes it in the background, past all of it a request waits for the lookup;
either way one lookup per key at a time, however many requests arrive together. A configuration change
(usage/gateway/freshness.py) empties the cache at once: `Keys.forget`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from catalog.model_ids import base_model_id
from usage.credentials import PLAYGROUND_TOKEN_PREFIX, secret_hash
from usage.gateway.responses import GatewayError

log = logging.getLogger("tokenledger.gateway")

UNKNOWN_SECONDS = 2.0  # how long an unknown secret is remembered as unknown
MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    revoked_at: datetime | None
    expires_at: datetime | None
    budget_usd: object  # Decimal | None
    budget_period: str
    rpm_limit: int | None
    tpm_limit: int | None
    allowed_models: tuple[str, ...]
    limited: bool  # any of budget / rpm / tpm
    cache_responses: bool = False  # the response cache is on for this key (a request header can override)
    capture_bodies: bool = False  # its request and reply bodies are kept (bodies.py)

    def allows(self, model_id: str) -> bool:
        if not self.allowed_models:
            return True
        base = base_model_id(model_id)
        for pattern in self.allowed_models:
            if pattern in (model_id, base):
                return True
            if pattern.endswith("/*") and base.startswith(pattern[:-1]):
                return True
        return False

    def refusal(self, now_s: float) -> GatewayError | None:
        """Why this key may not be used at `now_s` (epoch seconds), if it may not."""
        if self.revoked_at is not None:
            return GatewayError(401, f"API key {self.prefix}… was revoked", "revoked_key")
        if self.expires_at is not None and self.expires_at.timestamp() <= now_s:
            return GatewayError(401, f"API key {self.prefix}… has expired", "expired_key")
        return None


def bearer(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The credential of `Authorization: Bearer <x>`, else of `x-api-key: <x>` (Anthropic's clients)."""
    secret = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip() or None
        elif name == b"x-api-key":
            secret = value.strip() or None
    return secret


def bearer_matches(headers: list[tuple[bytes, bytes]], token: str) -> bool:
    """Does the request carry this bearer token? (constant-time comparison)"""
    given = bearer(headers)
    return given is not None and hmac.compare_digest(given, token.encode())


Loader = Callable[[str], Awaitable[KeyInfo | None]]


class Keys:
    """The key cache in front of the database: secret (its hash) -> KeyInfo, or None for an unknown one."""

    def __init__(self, load_key: Loader, load_playground_key: Loader, seconds: float) -> None:
        self.load_key = load_key  # by secret hash
        self.load_playground_key = load_playground_key  # by playground token
        self.seconds = seconds
        self.entries: dict[str, tuple[float, KeyInfo | None]] = {}
        self.loading: dict[str, asyncio.Future] = {}
        self.generation = (
            0  # raised by forget(): a lookup begun before it neither fills the cache nor is joined
        )

    def forget(self) -> None:
        """Drop every cached key (a key was revoked or edited): each is looked up again on its next use."""
        self.entries.clear()
        self.loading.clear()
        self.generation += 1

    async def find(self, secret: bytes | None) -> KeyInfo:
        """The key this secret belongs to; 401 when there is none."""
        if not secret:
            raise GatewayError(401, "Missing API key: send Authorization: Bearer <key>", "missing_key")
        text = secret.decode("latin-1")
        digest = secret_hash(text)
        entry = self.entries.get(digest)
        if entry is None:
            key = await self.wait(digest, text)
        else:
            loaded_at, key = entry
            age = time.monotonic() - loaded_at
            ttl = self.seconds if key is not None else UNKNOWN_SECONDS
            if age > ttl:
                key = await self.wait(digest, text)
            elif age > ttl / 2 and digest not in self.loading:  # refresh ahead, in the background
                self.lookup(digest, text).add_done_callback(_log_failure)
        if key is None:
            raise GatewayError(401, "Unknown API key", "invalid_key")
        return key

    async def wait(self, digest: str, text: str) -> KeyInfo | None:
        try:
            return await self.lookup(digest, text)
        except Exception:
            log.exception("key lookup failed")
            raise GatewayError(
                503, "Keys cannot be checked right now, try again", "keys_unavailable"
            ) from None

    def lookup(self, digest: str, text: str) -> asyncio.Future:
        """The load of this key, started unless one is under way (awaitable; the cache is updated)."""
        future = self.loading.get(digest)
        if future is None:
            future = asyncio.ensure_future(self._load(digest, text))
            self.loading[digest] = future
        return future

    async def _load(self, digest: str, text: str) -> KeyInfo | None:
        generation = self.generation
        try:
            if text.startswith(PLAYGROUND_TOKEN_PREFIX):  # a token standing for one of its user's keys
                key = await self.load_playground_key(text)
            else:
                key = await self.load_key(digest)
            if generation == self.generation:
                if len(self.entries) >= MAX_CACHED:
                    self.entries.clear()
                self.entries[digest] = (time.monotonic(), key)
            return key
        finally:
            if generation == self.generation:
                del self.loading[digest]


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("key refresh failed (the cached key stays in use)", exc_info=future.exception())
