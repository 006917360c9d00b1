"""Admin changes apply from the very next request: before each request the gateway compares the
configuration version (usage/freshness.py) with the one its snapshot was loaded at, and when it moved,
reloads the snapshot and forgets its cached keys before going on. No database read per request: one stat()
of a file in DATA_DIR, or with Redis no round trip at all while nothing changes: a bump also publishes on
the version's channel, and the gateway, subscribed on a socket of its own that the event loop never reads,
looks into that socket before each request (one non-blocking recv). Something there, a lost subscription, or
a last GET over VERIFY_EVERY old: it reads the version with a GET first.

Single flight: the requests that find the version moved wait for one reload; one that finds the version it
saw loaded meanwhile goes on at once. A version read or a reload that fails is logged (once a minute) and
the request goes on with what is in memory; for the next second requests do not try again (a Redis that
hangs costs one request its timeout, not every request), then the periodic refresh stays the safety net.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import monotonic
from urllib.parse import urlsplit

import redis.asyncio as redis

from usage.freshness import version_file, version_key
from usage.gateway.resp import TIMEOUT, RedisError, Resp, address_of, command

log = logging.getLogger("tokenledger.gateway")

UNREAD = object()  # no version read yet: the first check reloads
LOG_EVERY = 60.0  # seconds between two logged failures
RETRY_AFTER = 1.0  # seconds without a version check after a failed read or reload
VERIFY_EVERY = 1.0  # seconds a GET is trusted while the subscription is quiet (a silently dead one)


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
    redis-py's pool and parser: bench/gateway_freshness.py), and watched through a subscription (Watch), so
    that most requests need no read at all; other URLs (TLS, sockets) are read through redis-py each time."""

    def __init__(self, url: str, prefix: str, *, watch: bool = True) -> None:
        self.key = version_key(prefix)
        plain = urlsplit(url).scheme == "redis"
        self.client = None if plain else redis.Redis.from_url(url, socket_timeout=2)
        self.resp = Resp(url) if plain else None
        self.get = command("GET", self.key)
        address, auth = address_of(url)
        self.watch = Watch(address, auth, self.key) if watch and plain else None
        self.read_at = -VERIFY_EVERY  # when the last GET trusted by `unchanged` was sent
        self.read_with = -1  # the subscription it was sent under

    def unchanged(self) -> bool:
        """True when no read is needed: the subscription, live since before the last GET (sent within
        VERIFY_EVERY), has had nothing published since."""
        watch = self.watch
        return (
            watch is not None
            and watch.number == self.read_with
            and monotonic() - self.read_at < VERIFY_EVERY
            and watch.quiet()
        )

    async def read(self) -> bytes | None:
        if self.client is not None:
            return await self.client.get(self.key)
        watch, number, sent = self.watch, -1, monotonic()
        if watch is not None:
            watch.start()
            number = watch.number  # a GET sent while subscribed: the watch takes over after it
        value = await self.resp.ask(self.get)
        if number >= 0:
            self.read_with, self.read_at = number, sent
        return value

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            return
        if self.watch is not None:
            self.watch.close()
        self.resp.close()


class Watch:
    """A subscription to the version's channel on a plain non-blocking socket, never read by the event
    loop: what was published since the last look waits in the socket. `number` counts subscriptions made
    (-1 while there is none); one thread makes them, again after a loss, once a second until it works."""

    def __init__(self, address: tuple[str, int], auth: list[str], channel: str) -> None:
        self.address = address
        self.hello = (command(*auth) if auth else b"") + command("SUBSCRIBE", channel)
        self.replies = (b"+OK\r\n" if auth else b"") + b"*3\r\n$9\r\nsubscribe\r\n"
        self.sock: socket.socket | None = None
        self.number = -1
        self.made = 0
        self.connecting = False
        self.closed = False

    def start(self) -> None:
        if self.sock is None and not self.connecting and not self.closed:
            self.connecting = True
            threading.Thread(target=self._subscribe, name="gateway-version-watch", daemon=True).start()

    def quiet(self) -> bool:
        """Nothing published since the last look, and the subscription alive (else False, and the
        subscription is made again in the background)."""
        sock = self.sock
        if sock is None:
            return False
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        while data:  # drained: what was published is about to be read with a GET
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                data = b""
        self.lost()
        return False

    def lost(self) -> None:
        sock, self.sock, self.number = self.sock, None, -1
        if sock is not None:
            sock.close()
        self.start()

    def _subscribe(self) -> None:
        failed_at = None
        while not self.closed:
            try:
                sock = socket.create_connection(self.address, timeout=TIMEOUT)
                try:
                    sock.sendall(self.hello)
                    received = b""
                    while b":1\r\n" not in received:  # the SUBSCRIBE reply ends with the count
                        chunk = sock.recv(4096)
                        if not chunk:
                            raise RedisError("connection closed while subscribing")
                        received += chunk
                    if not received.startswith(self.replies):
                        raise RedisError(received[:200].decode(errors="replace"))
                    sock.setblocking(False)
                except Exception:
                    sock.close()
                    raise
            except Exception:
                if failed_at is None or monotonic() - failed_at >= LOG_EVERY:
                    failed_at = monotonic()
                    log.warning("gateway version subscription failed: a GET per request until it works")
                threading.Event().wait(RETRY_AFTER)
                continue
            self.made += 1
            self.sock, self.number = sock, self.made
            if self.closed:
                self.lost()
            break
        self.connecting = False

    def close(self) -> None:
        self.closed = True
        sock, self.sock, self.number = self.sock, None, -1
        if sock is not None:
            sock.close()


class Freshness:
    def __init__(self, version: FileVersion | RedisVersion, reload: Callable[[], Awaitable[None]]) -> None:
        self.version = version
        self.unchanged = getattr(version, "unchanged", None)  # no read needed (RedisVersion's watch)
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
        if self.unchanged is not None and self.loaded is not UNREAD and self.unchanged():
            return
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
