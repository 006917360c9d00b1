"""A small Redis client of the gateway's own for its per-request commands (the configuration version's GET,
the limits' scripts): one pipelined connection, commands written as they come and their replies matched in
order. It costs a fraction of redis-py's pool and parser (bench/gateway_freshness.py: ~11 against ~50 µs of
CPU for a GET). Plain redis:// URLs only; TLS and sockets go through redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from urllib.parse import unquote, urlsplit

TIMEOUT = 1.0  # seconds a command may take, the connection included

INCOMPLETE = object()


class RedisError(Exception):
    """An error reply, or the connection was lost."""


def command(*words: str | int | bytes) -> bytes:
    encoded = [w if isinstance(w, bytes) else str(w).encode() for w in words]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in encoded)


def address_of(url: str) -> tuple[tuple[str, int], list[str]]:
    """(host, port) and the AUTH command's words (none without a password) of a redis:// URL."""
    parts = urlsplit(url)
    auth = []
    if parts.password:
        auth = ["AUTH", *([unquote(parts.username)] if parts.username else []), unquote(parts.password)]
    return (parts.hostname or "127.0.0.1", parts.port or 6379), auth


def _parse(buffer: bytes, start: int):
    """(reply, end) of the reply at `start`, or (INCOMPLETE, start). An error inside an array is its value."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return INCOMPLETE, start
    kind, head = buffer[start : start + 1], buffer[start + 1 : end]
    if kind == b"$":
        if head == b"-1":
            return None, end + 2
        size = int(head)
        if len(buffer) < end + 4 + size:
            return INCOMPLETE, start
        return buffer[end + 2 : end + 2 + size], end + 4 + size
    if kind == b":":
        return int(head), end + 2
    if kind == b"*":
        count, position, items = int(head), end + 2, []
        for _ in range(max(count, 0)):
            item, position = _parse(buffer, position)
            if item is INCOMPLETE:
                return INCOMPLETE, start
            items.append(item)
        return (None if count < 0 else items), position
    if kind == b"-":
        return RedisError(head.decode(errors="replace")), end + 2
    return head, end + 2  # +simple string


class RespProtocol(asyncio.Protocol):
    """Replies matched in order to the commands sent."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future] = deque()
        self.buffer = b""
        self.lost = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def ask(self, request: bytes) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if self.lost:
            future.set_exception(RedisError("connection lost"))
            return future
        self.waiting.append(future)
        self.transport.write(request)
        return future

    def data_received(self, data: bytes) -> None:
        buffer, position = self.buffer + data, 0
        while self.waiting:
            reply, end = _parse(buffer, position)
            if reply is INCOMPLETE:
                break
            position = end
            future = self.waiting.popleft()
            if not future.done():
                if isinstance(reply, RedisError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        self.buffer = buffer[position:]

    def connection_lost(self, exc) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisError(f"connection lost: {exc}"))


class Resp:
    """One pipelined connection to a redis:// URL, opened (AUTH, SELECT) on first use and after a loss."""

    def __init__(self, url: str) -> None:
        self.address, auth = address_of(url)
        db = urlsplit(url).path.strip("/")
        setup = [auth] if auth else []
        if db and db != "0":
            setup.append(["SELECT", db])
        self.setup = [command(*words) for words in setup]
        self.connection: RespProtocol | None = None
        self.connecting = asyncio.Lock()

    async def ask(self, request: bytes):
        async with asyncio.timeout(TIMEOUT):
            connection = self.connection
            if connection is None or connection.lost:
                connection = await self.connect()
            return await connection.ask(request)

    async def connect(self) -> RespProtocol:
        async with self.connecting:
            if self.connection is None or self.connection.lost:
                loop = asyncio.get_running_loop()
                _transport, connection = await loop.create_connection(RespProtocol, *self.address)
                for request in self.setup:
                    await connection.ask(request)
                self.connection = connection
            return self.connection

    def close(self) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.close()
