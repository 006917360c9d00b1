"""Admin changes apply from the very next request: before each request the gateway compares the
configuration version (usage/freshness.py) with the one its snapshot was loaded at, and when it moved,
reloads the snapshot and forgets its cached keys before going on. No database read per request: a Redis
GET with Redis, else one stat() of a file in DATA_DIR.

Single flight: the requests that find the version moved wait for one reload; a request that saw a version
older than the one loaded meanwhile goes on at once. A version read or a reload that fails is logged and
the request goes on with the snapshot it has (the periodic refresh stays the safety net).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as redis

from usage.freshness import version_file, version_key

log = logging.getLogger("tokenledger.gateway")

UNREAD = object()  # no version read yet: the first check reloads
LOG_EVERY = 60.0  # seconds between two logged failures to read the version


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
    """The Redis integer (None while unset): every host sharing the Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2)
        self.key = version_key(prefix)

    async def read(self) -> bytes | None:
        return await self.client.get(self.key)

    async def close(self) -> None:
        await self.client.aclose()


class Freshness:
    def __init__(self, version: FileVersion | RedisVersion, reload: Callable[[], Awaitable[None]]) -> None:
        self.version = version
        self.reload = reload  # loads the snapshot and drops what was cached from the database
        self.loaded: object = UNREAD  # the version the snapshot was loaded at
        self.lock = asyncio.Lock()
        self.failed_at = -LOG_EVERY

    async def read(self) -> object:
        try:
            return await self.version.read()
        except Exception:
            now = time.monotonic()
            if now - self.failed_at >= LOG_EVERY:
                self.failed_at = now
                log.exception("configuration version unreadable: admin changes wait for the periodic refresh")
            return self.loaded

    async def check(self) -> None:
        """Reload first if the version moved since the last load (one reload for all who wait)."""
        seen = await self.read()
        if seen == self.loaded:
            return
        async with self.lock:
            if seen == self.loaded:  # someone else loaded this version while we waited
                return
            try:
                await self.reload()
            except Exception:
                log.exception("reload after a configuration change failed; trying again on the next request")
                return
            self.loaded = seen

    async def load(self) -> None:
        """The first load (start-up): the version read before loading, so nothing committed after it is
        missed."""
        seen = await self.read()
        async with self.lock:
            await self.reload()
            self.loaded = seen

    async def close(self) -> None:
        await self.version.close()


def make_freshness(redis_url: str | None, prefix: str, data_dir, reload) -> Freshness:
    version = RedisVersion(redis_url, prefix) if redis_url else FileVersion(data_dir)
    return Freshness(version, reload)
