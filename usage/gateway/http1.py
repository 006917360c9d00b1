"""The upstreams' HTTP/1.1 client: kept-alive connections per host, httptools' parser, one timer per request.

aiohttp's ClientSession did the same job at about 120 µs of CPU a request more (bench/floor.py forwards with
it; see docs/gateway.md, "Session 10"), most of it in objects this gateway never used: tracing hooks,
cookie jars, multidicts, URL objects, a timer per read. This does what the gateway needs and no more:

- `post(url, body, headers)` sends a request on an idle connection to that host (or a new one, within
  `connect_timeout`) and returns a `Reply` once its status and headers are in;
- a reply's body is read as it arrives (`readany`), up to a limit (`read`), or whole; the parser decodes
  chunked transfer encoding; content encodings are left to the caller (upstream.Decoder);
- the body's bytes are buffered up to HIGH_WATER, then the socket is no longer read until they are taken;
- a wait of more than `read_timeout` for the next bytes fails with TimeoutError (one timer per request,
  moved on only when it fires);
- `release()` puts a whole, kept-alive reply's connection back in the pool; anything else (`close()`, a
  reply not read to its end, a broken one) closes the connection at once, which is what stops an upstream
  generating for a client that left.

Errors: TimeoutError (connect or read), ConnectError (no connection), BrokenReply (the connection closed or
sent what is not HTTP before the reply's end). Redirects are not followed, nothing is retried.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections import deque
from urllib.parse import urlsplit

import httptools

HIGH_WATER = 1 << 16  # buffered body bytes above which the socket is not read until the reader takes them
PARSED_URLS = 256  # how many urls' parts are kept (upstream urls, and Messages' ?beta=true variants)


class HTTPError(Exception):
    """What went wrong talking to an upstream; str() says it in a few words."""


class ConnectError(HTTPError):
    pass


class BrokenReply(HTTPError):
    pass


class Reply:
    """A reply being read: `status`, `headers` (lower-case names to their first value), the body."""

    __slots__ = (
        "status",
        "headers",
        "keep_alive",
        "_conn",
        "_chunks",
        "_size",
        "_complete",
        "_error",
        "_waiter",
        "_paused",
        "_done",
        "_head",
        "_raw",
    )

    def __init__(self, conn: Connection, head: asyncio.Future) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = False
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._complete = False  # the parser saw the reply's end
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._paused = False
        self._done = False  # released or closed
        self._head = head
        self._raw: list[tuple[bytes, bytes]] = []

    # --- fed by the connection ---

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > HIGH_WATER and not self._paused:
            self._paused = True
            self._conn.transport.pause_reading()
        self._wake()

    def _end(self) -> None:
        self._complete = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self._complete or self._error is not None:
            return
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- read by the gateway ---

    def at_eof(self) -> bool:
        return self._complete and not self._chunks

    async def readany(self) -> bytes:
        """What has arrived (waiting for something if nothing has); b"" once the body is whole."""
        while not self._chunks:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            self._waiter = self._conn.loop.create_future()
            await self._waiter
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            self._conn.transport.resume_reading()
        return data

    async def read(self, limit: int | None = None) -> bytes:
        """The body until its end, or until `limit` bytes (then at most `limit`)."""
        parts = []
        size = 0
        while limit is None or size < limit:
            data = await self.readany()
            if not data:
                break
            parts.append(data)
            size += len(data)
        data = b"".join(parts)
        return data if limit is None else data[:limit]

    def release(self) -> None:
        """Done with this reply: its connection goes back to the pool if the reply was read to its end."""
        if self._done:
            return
        self._done = True
        conn = self._conn
        if self._complete and self._error is None and self.keep_alive and not conn.lost:
            conn.idle()
        else:
            conn.abort()

    def close(self) -> None:
        """Done with this reply and its connection, closed at once: the upstream sees the client leave."""
        if not self._done:
            self._done = True
            self._conn.abort()


class Connection(asyncio.Protocol):
    def __init__(self, client: Client, key: tuple) -> None:
        self.client = client
        self.key = key
        self.loop = client.loop
        self.transport = None
        self.parser = httptools.HttpResponseParser(self)
        self.reply: Reply | None = None
        self.lost = False
        self.last_read = 0.0
        self.idle_since = 0.0
        self.timer = None
        self.informational = False  # reading a 1xx reply, which is skipped

    # --- asyncio.Protocol ---

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        reply = self.reply
        if reply is None:  # nothing was asked: a server that talks out of turn is not reused
            self.abort()
            return
        self.last_read = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            reply._fail(BrokenReply(f"not HTTP ({exc})"))
            self.abort()
        except httptools.HttpParserUpgrade:
            reply._fail(BrokenReply("an upgrade to another protocol"))
            self.abort()

    def connection_lost(self, exc) -> None:
        self.lost = True
        self.cancel_timer()
        reply = self.reply
        if reply is None:
            return
        if reply._head.done() and self.ends_at_close(reply):
            reply._end()  # a body without length or chunks ends where the connection does
        elif exc is None:
            reply._fail(BrokenReply("the connection closed before the reply's end"))
        else:
            reply._fail(BrokenReply(f"the connection broke ({_reason(exc)})"))

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        self.reply._raw.append((name, value))

    def on_headers_complete(self) -> None:
        reply = self.reply
        if reply._head.done():  # a second reply to one request: the connection is not to be trusted
            self.abort()
            return
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue and the like: the reply proper follows
            self.informational = True
            reply._raw.clear()
            return
        reply.status = status
        headers = reply.headers
        for name, value in reply._raw:
            name = name.decode("latin-1").lower()
            if name not in headers:
                headers[name] = value.decode("latin-1")
        reply._raw = []
        reply.keep_alive = self.parser.should_keep_alive()
        if not reply._head.done():
            reply._head.set_result(None)  # not the reply itself: no reply -> future -> reply cycle to collect

    def on_body(self, body: bytes) -> None:
        self.reply._feed(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self.cancel_timer()
        self.reply._end()

    # --- ours ---

    @staticmethod
    def ends_at_close(reply: Reply) -> bool:
        headers = reply.headers
        return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "")

    def send(self, request: bytes, timeout: float) -> Reply:
        head = self.loop.create_future()
        self.reply = reply = Reply(self, head)
        self.last_read = time.monotonic()
        self.timer = self.loop.call_at(self.loop.time() + timeout, self.check, timeout)
        self.transport.write(request)
        return reply

    def check(self, timeout: float) -> None:
        """The request's timer: fails the reply after `timeout` s without a byte, else waits on."""
        self.timer = None
        reply = self.reply
        if reply is None or reply._complete:
            return
        if reply._paused or reply._chunks:  # the bytes wait on our reader, not on the upstream
            self.last_read = time.monotonic()
        quiet = time.monotonic() - self.last_read
        if quiet < timeout:
            self.timer = self.loop.call_at(self.loop.time() + timeout - quiet, self.check, timeout)
            return
        reply._fail(TimeoutError(f"nothing came in {timeout:g} s"))
        self.abort()

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def idle(self) -> None:
        self.reply = None
        self.cancel_timer()
        self.idle_since = time.monotonic()
        self.client.idle.setdefault(self.key, []).append(self)

    def abort(self) -> None:
        self.lost = True
        self.cancel_timer()
        if self.transport is not None:
            self.transport.abort()


class Client:
    """One per gateway process: `post()` to any upstream url, connections kept alive per host."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self.ssl_context = ssl_context
        self.idle: dict[tuple, list[Connection]] = {}
        self.urls: dict[str, tuple[tuple, bytes, bytes]] = {}

    def parts(self, url: str) -> tuple[tuple, bytes, bytes]:
        """(connection key, request target, Host header) of a url."""
        found = self.urls.get(url)
        if found is not None:
            return found
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ConnectError(f"not an http(s) url: {url!r}")
        secure = split.scheme == "https"
        port = split.port or (443 if secure else 80)
        host = split.hostname
        netloc = f"[{host}]" if ":" in host else host
        if port != (443 if secure else 80):
            netloc = f"{netloc}:{port}"
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        found = ((host, port, secure), target.encode("latin-1"), netloc.encode("idna"))
        if len(self.urls) < PARSED_URLS:
            self.urls[url] = found
        return found

    async def connection(self, key: tuple) -> Connection:
        idle = self.idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.lost and now - conn.idle_since < self.keepalive:
                return conn
            conn.abort()
        host, port, secure = key
        context = None
        if secure:
            if self.ssl_context is None:
                self.ssl_context = ssl.create_default_context()
            context = self.ssl_context
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self.loop.create_connection(
                    lambda: Connection(self, key), host, port, ssl=context
                )
        except TimeoutError:
            raise TimeoutError(f"no connection in {self.connect_timeout:g} s") from None
        except OSError as exc:
            raise ConnectError(_reason(exc)) from None
        return conn

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Reply:
        """Send a POST, and return its reply once the status and headers are in."""
        key, target, host = self.parts(url)
        block = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        if block.count("\n") != len(headers) or block.count("\r") != len(headers):
            raise ValueError("a header holds a line break")
        request = b"POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n%s" % (
            target,
            host,
            block.encode("latin-1"),
            len(body),
            body,
        )
        conn = await self.connection(key)
        reply = conn.send(request, self.read_timeout)
        try:
            await reply._head
        except BaseException:
            reply.close()
            raise
        return reply

    def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.abort()
        self.idle.clear()


def _reason(exc: BaseException) -> str:
    """An OSError in a few words ("Connection refused", "TLS: self-signed certificate"), else its type."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {getattr(exc, 'verify_message', None) or exc.reason or exc}"
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return os.strerror(errno)
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
