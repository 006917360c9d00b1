"""The response cache: deterministic requests answered again from a stored reply.

A request is cached when its key has caching on (or the header `X-Tokenledger-Cache: on` asks for it)
and it is deterministic (temperature 0 or an integer seed, one choice). The key is a sha256 of the
upstream, the endpoint and the normalized body. Replies live in Redis when REDIS_URL is set, else in the
database (usage.CachedResponse). Both stores fail soft: an error is a miss, never an exception.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import orjson
import redis.asyncio as redis
from django.utils import timezone

from usage.gateway.row import LedgerRow

log = logging.getLogger("tokenledger.gateway")

HEADER = b"x-tokenledger-cache"
HIT = b"hit"
MISS = b"miss"

IGNORED_FIELDS = ("user", "stream_options")  # do not change the reply
# Ledger fields a cache hit copies from the request that filled the entry.
CACHED_FIELDS = ("served_model", "provider", "generation_id", "prompt_tokens", "completion_tokens")
CACHED_FIELDS += ("cached_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens")
CACHED_FIELDS += ("audio_tokens", "image_tokens")
CACHED_FIELDS += ("web_search_requests", "catalog_model_id")
PRUNE_SECONDS = 60.0


def cache_requested(headers: list[tuple[bytes, bytes]], key_default: bool) -> bool:
    """The key's default, unless an `X-Tokenledger-Cache: on|off` header overrides it (the last one wins)."""
    wanted = key_default
    for name, value in headers:
        if name.lower() != HEADER:
            continue
        value = value.strip().lower()
        if value == b"on":
            wanted = True
        elif value == b"off":
            wanted = False
    return wanted


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def request_cache_id(headers, key_caches: bool, request, plan) -> str | None:
    """The cache key of this request, if it is one to answer from (or fill) the cache: a deterministic
    request (always, for embeddings) whose key or header asks for caching."""
    if (request.spec.deterministic or deterministic(request.body)) and cache_requested(headers, key_caches):
        return cache_key(plan.attempts[0].route.name, request.endpoint, request.body)
    return None


def deterministic(body: dict) -> bool:
    """Temperature 0 or an integer seed, and a single choice (n absent or 1)."""
    n = body.get("n")
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n == 1):
        return False
    temperature = body.get("temperature")
    if _number(temperature) and temperature == 0:
        return True
    seed = body.get("seed")
    return isinstance(seed, int) and not isinstance(seed, bool)


def cache_key(upstream: str, endpoint: str, body: dict) -> str:
    normalized = {name: value for name, value in body.items() if name not in IGNORED_FIELDS}
    digest = hashlib.sha256()
    digest.update(upstream.encode())
    digest.update(b"\n")
    digest.update(endpoint.encode())
    digest.update(b"\n")
    digest.update(orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def _decimal_as_str(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass
class CachedReply:
    """What the client got (status, content type, body bytes) and the ledger fields to copy to a hit's row."""

    status: int
    content_type: str
    body: bytes
    row: dict = field(default_factory=dict)  # served_model, provider, generation_id, tokens, "cost": str

    def dumps(self) -> bytes:
        """orjson; the body in base64, Decimal values as str."""
        data = {
            "status": self.status,
            "content_type": self.content_type,
            "body": base64.b64encode(self.body).decode("ascii"),
            "row": self.row,
        }
        return orjson.dumps(data, default=_decimal_as_str)

    @classmethod
    def loads(cls, data: bytes) -> CachedReply:
        """Raises ValueError on a payload that is not one dumps() wrote."""
        try:
            parsed = orjson.loads(data)
            status, content_type, body, row = (
                parsed["status"],
                parsed["content_type"],
                parsed["body"],
                parsed["row"],
            )
            if not (
                isinstance(status, int)
                and not isinstance(status, bool)
                and isinstance(content_type, str)
                and isinstance(body, str)
                and isinstance(row, dict)
            ):
                raise ValueError("wrong field types")
            raw = base64.b64decode(body, validate=True)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a cached reply: {exc}") from exc
        return cls(status, content_type, raw, row)


def reply_of(row: LedgerRow, capture: Capture) -> CachedReply:
    """The entry a complete successful reply makes, with what a hit's row copies (and its cost)."""
    fields = {name: getattr(row, name) for name in CACHED_FIELDS if getattr(row, name) is not None}
    cost = row.spent
    fields["cost"] = None if cost is None else str(cost)
    content_type = "text/event-stream" if row.stream else "application/json"
    return CachedReply(200, content_type, capture.data, fields)


def hit(cached: CachedReply, row: LedgerRow) -> None:
    """The ledger row of a request answered from the cache: cost 0, what it saved in meta."""
    for name in CACHED_FIELDS:
        if name in cached.row:
            setattr(row, name, cached.row[name])
    row.status, row.http_status, row.computed_cost = "cached", cached.status, Decimal(0)
    row.meta.update(cache="hit", saved_cost=cached.row.get("cost"))


class _FailSoft:
    """Logs the first failure of an outage as a warning (later ones at debug level) until a success."""

    name = "cache"
    failing = False

    def _failed(self, action: str, exc: BaseException) -> None:
        if not self.failing:
            self.failing = True
            log.warning(
                "response cache (%s) %s failed, serving without it: %s: %s",
                self.name,
                action,
                type(exc).__name__,
                exc,
            )
        else:
            log.debug("response cache (%s) %s failed: %s: %s", self.name, action, type(exc).__name__, exc)

    def _ok(self) -> None:
        if self.failing:
            self.failing = False
            log.info("response cache (%s) works again", self.name)

    async def _read(self, fetch) -> CachedReply | None:
        """The entry `fetch` (an awaitable of its bytes, or None) holds; None on a miss or any failure."""
        try:
            data = await fetch
            reply = CachedReply.loads(bytes(data)) if data is not None else None
        except Exception as exc:
            self._failed("get", exc)
            return None
        self._ok()
        return reply

    async def _write(self, store) -> None:
        """Await `store`; a failure is logged, never raised."""
        try:
            await store
        except Exception as exc:
            self._failed("put", exc)
            return
        self._ok()


class RedisCache(_FailSoft):
    """Entries at `<prefix>cache:<key>`, expiring with Redis's own TTL."""

    name = "redis"

    def __init__(self, url: str, prefix: str, timeout: float = 1.0) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self.prefix = prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}cache:{key}"

    async def get(self, key: str) -> CachedReply | None:
        return await self._read(self.client.get(self._name(key)))

    async def put(self, key: str, reply: CachedReply, ttl_seconds: int) -> None:
        await self._write(self.client.set(self._name(key), reply.dumps(), ex=int(ttl_seconds)))

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except Exception as exc:
            self._failed("close", exc)


class DatabaseCache(_FailSoft):
    """usage.CachedResponse rows, through the gateway's store (its database thread).

    Each put also deletes expired rows, at most once a minute. `now` is for tests (default: timezone.now).
    """

    name = "database"

    def __init__(self, store, now=None) -> None:
        self.store = store
        self.now = now or timezone.now
        self.pruned_at: datetime | None = None

    async def get(self, key: str) -> CachedReply | None:
        return await self._read(self.store.cached_reply(key, self.now()))

    async def put(self, key: str, reply: CachedReply, ttl_seconds: int) -> None:
        now = self.now()
        prune = self.pruned_at is None or (now - self.pruned_at).total_seconds() >= PRUNE_SECONDS
        if prune:
            self.pruned_at = now
        await self._write(self.store.cache_reply(key, reply.dumps(), now, ttl_seconds, prune))

    async def close(self) -> None:
        return None


def make_cache(redis_url: str | None, prefix: str, store) -> RedisCache | DatabaseCache:
    if redis_url:
        return RedisCache(redis_url, prefix)
    return DatabaseCache(store)


def _events(body: bytes) -> list[bytes]:
    """SSE events with their b"\\n\\n" separators kept; a trailing partial event is the last piece."""
    parts = body.split(b"\n\n")
    events = [part + b"\n\n" for part in parts[:-1]]
    if parts[-1]:
        events.append(parts[-1])
    return events


async def replay(send, reply: CachedReply, extra_headers: list[tuple[bytes, bytes]]) -> None:
    """Send a cached reply through ASGI `send`; an SSE body event by event, so the client sees a stream."""
    content_type = reply.content_type.encode("latin-1")
    stream = reply.content_type.startswith("text/event-stream")
    headers = [(b"content-type", content_type)]
    if stream:
        headers.append((b"cache-control", b"no-cache"))
    else:
        headers.append((b"content-length", str(len(reply.body)).encode()))
    headers.append((HEADER, HIT))
    headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if not stream:
        await send({"type": "http.response.body", "body": reply.body})
        return
    for event in _events(reply.body):
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class Capture:
    """Keeps a reply's bytes up to `limit`; past it, keeps nothing and marks `overflow` (don't cache)."""

    cached = True  # the reply says "x-tokenledger-cache: miss" (bodies.Kept may stand in for a Capture)

    def __init__(self, limit: int = 4 * 1024 * 1024) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.overflow = False

    def add(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow = True
            self.parts = []
            return
        self.parts.append(chunk)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)
