"""Admin changes apply from the very next request: before each request the gateway compares the
configuration version (usage/freshness.py) with the one its snapshot was loaded at, and when it moved,
reloads the snapshot and forgets its cached keys before going on. No database read per request: a Redis
GET with Redis, else one stat() of a file in DATA_DIR.

Single flight: the requests that find the version moved wait for one reload; one that finds the version it
saw loaded meanwhile goes on at once. A version read or a reload that fails is logged (once a minute) and
the request goes on with what is in memory; for the next second requests do not try again (a Redis that
hangs costs one request its timeout, not every request), then the periodic refresh stays the safety net.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import monotonic
from urllib.parse import unquote, urlsplit

import redis.asyncio as redis

from usage.freshness import version_file, version_key

log = logging.getLogger("tokenledger.gateway")

UNREAD = object()  # no version read yet: the first check reloads
LOG_EVERY = 60.0  # seconds between two logged failures
TIMEOUT = 1.0  # seconds a version read may take
RETRY_AFTER = 1.0  # seconds without a version check after a failed read or reload


class FileVersion:
    """The version file's mtime in nanoseconds (None while it does not exist): one host."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = os.fspath(version_file(data_dir))

    async def read(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None

    async def close(self) -> None:
        return None


class RedisVersion:
    """The Redis integer (None while unset): every host sharing the Redis. A plain redis:// URL is read over
    one pipelined connection of our own (RESP GET, ~11 µs of CPU a request, against ~50 µs through
    redis-py's pool and parser: bench/gateway_freshness.py); other URLs (TLS, sockets) through redis-py."""

    def __init__(self, url: str, prefix: str) -> None:
        self.key = version_key(prefix)
        parts = urlsplit(url)
        self.client = None if parts.scheme == "redis" else redis.Redis.from_url(url, socket_timeout=2)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        setup = []
        if parts.password:
            auth = [unquote(parts.username)] if parts.username else []
            setup.append(["AUTH", *auth, unquote(parts.password)])
        db = parts.path.strip("/")
        if db and db != "0":
            setup.append(["SELECT", db])
        self.setup = [_command(*words) for words in setup]
        self.get = _command("GET", self.key)
        self.connection: _Resp | None = None
        self.connecting = asyncio.Lock()

    async def read(self) -> bytes | None:
        if self.client is not None:
            return await self.client.get(self.key)
        async with asyncio.timeout(TIMEOUT):
            connection = self.connection
            if connection is None or connection.lost:
                connection = await self.connect()
            return await connection.ask(self.get)

    async def connect(self) -> _Resp:
        async with self.connecting:
            if self.connection is None or self.connection.lost:
                loop = asyncio.get_running_loop()
                _transport, connection = await loop.create_connection(_Resp, *self.address)
                for command in self.setup:
                    await connection.ask(command)
                self.connection = connection
            return self.connection

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        elif self.connection is not None and self.connection.transport is not None:
            self.connection.transport.close()


class RedisError(Exception):
    """An error reply, or the connection was lost."""


def _command(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in encoded)


class _Resp(asyncio.Protocol):
    """Replies (bulk strings, simple strings, integers, errors) matched in order to the commands sent."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future] = deque()
        self.buffer = b""
        self.lost = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def ask(self, command: bytes) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if self.lost:
            future.set_exception(RedisError("connection lost"))
            return future
        self.waiting.append(future)
        self.transport.write(command)
        return future

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while self.waiting:
            end = buffer.find(b"\r\n")
            if end < 0:
                break
            kind, head = buffer[:1], buffer[1:end]
            if kind == b"$" and head != b"-1":
                size = int(head)
                if len(buffer) < end + 4 + size:
                    break
                reply, buffer = buffer[end + 2 : end + 2 + size], buffer[end + 4 + size :]
            else:
                reply, buffer = (None if kind == b"$" else head), buffer[end + 2 :]
            future = self.waiting.popleft()
            if not future.done():
                if kind == b"-":
                    future.set_exception(RedisError(head.decode(errors="replace")))
                else:
                    future.set_result(reply)
        self.buffer = buffer

    def connection_lost(self, exc) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisError(f"connection lost: {exc}"))


class Freshness:
    def __init__(self, version: FileVersion | RedisVersion, reload: Callable[[], Awaitable[None]]) -> None:
        self.version = version
        self.reload = reload  # loads the snapshot and drops what was cached from the database
        self.loaded: object = UNREAD  # the version the snapshot was loaded at
        self.lock = asyncio.Lock()
        self.logged_at = -LOG_EVERY
        self.failed_at = -RETRY_AFTER  # the last failed read or reload

    def failed(self, what: str) -> None:
        self.failed_at = now = monotonic()
        if now - self.logged_at >= LOG_EVERY:
            self.logged_at = now
            log.exception("%s: admin changes wait (tried again in %.0f s)", what, RETRY_AFTER)

    async def check(self) -> None:
        """Reload first if the version moved since the last load (one reload for all who wait)."""
        if self.failed_at + RETRY_AFTER > monotonic():
            return
        try:
            seen = await self.version.read()
        except Exception:
            self.failed("configuration version unreadable")
            return
        if seen == self.loaded:
            return
        async with self.lock:
            if seen == self.loaded:  # someone else loaded this version while we waited
                return
            try:
                await self.reload()
            except Exception:
                self.failed("reload after a configuration change failed")
                return
            self.loaded = seen

    async def load(self) -> None:
        """The first load (start-up): the version read before loading, so nothing committed after it is
        missed."""
        try:
            seen = await self.version.read()
        except Exception:
            self.failed("configuration version unreadable")
            seen = UNREAD  # the first check that reads it reloads
        async with self.lock:
            await self.reload()
            self.loaded = seen

    async def close(self) -> None:
        await self.version.close()


def make_freshness(redis_url: str | None, prefix: str, data_dir, reload) -> Freshness:
    version = RedisVersion(redis_url, prefix) if redis_url else FileVersion(data_dir)
    return Freshness(version, reload)
