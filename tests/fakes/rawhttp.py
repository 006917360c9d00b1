"""A misbehaving upstream: HTTP/1.1 written by hand on a loopback socket, so a test can script what a
polite server never does (compressed replies nobody asked for, redirects, streams cut by a close or a
reset, or left hanging).

    upstream = RawUpstream().start()          # or the `raw_upstream` fixture (tests/conftest.py)
    upstream.script(json_reply(body, encoding="gzip"))     # the next request's answer (a FIFO queue)
    upstream.script(sse_reply(events, end="reset"))
    upstream.requests                          # what it received: (request line, headers dict, body)

Unscripted requests get a plain 200 chat completion. `upstream.url` is its `.../api/v1` base URL.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import struct
import threading
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.fakes.openrouter import Reply, _completion, _stream_events

Action = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Received:
    line: str
    headers: dict[str, str]
    body: bytes


def compress(data: bytes, encoding: str | None) -> bytes:
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "raw-deflate":  # deflate without its zlib header, as some servers send it
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush()
    return data


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def completion(text: str = "Hello from the raw upstream.", model: str = "openai/gpt-4o-mini") -> bytes:
    return json.dumps(_completion(Reply(text=text), "gen-raw-1", model, True)).encode()


def stream_events(
    text: str = "Hello from the raw upstream.", model: str = "openai/gpt-4o-mini"
) -> list[bytes]:
    """A whole chat stream as OpenRouter sends it: comment, role, content pieces, finish, usage, [DONE]."""
    return list(_stream_events(Reply(text=text), "gen-raw-1", model, True))


def json_reply(body: bytes, *, status: int = 200, encoding: str | None = None) -> Action:
    async def act(writer: asyncio.StreamWriter) -> None:
        data = compress(body, encoding)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        if encoding:
            headers["Content-Encoding"] = "deflate" if encoding == "raw-deflate" else encoding
        writer.write(_head(status, headers) + data)
        await writer.drain()

    return act


def redirect(status: int = 302, location: str = "http://127.0.0.1:9/elsewhere") -> Action:
    async def act(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(status, {"Location": location, "Content-Length": "0"}))
        await writer.drain()

    return act


def sse_reply(
    events: list[bytes], *, encoding: str | None = None, end: str = "done", pause: float = 0.0
) -> Action:
    """A chunked SSE stream of `events`, each flushed on its own (after `pause` s), then per `end`:
    "done" the terminating chunk; "close" a close with no terminating chunk; "close-clean" a close after
    the terminating chunk (but `events` may lack [DONE]); "reset" a TCP reset; "hang" nothing more."""

    async def act(writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}
        if encoding:
            headers["Content-Encoding"] = encoding
        writer.write(_head(200, headers))
        packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None
        for event in events:
            data = packer.compress(event) + packer.flush(zlib.Z_SYNC_FLUSH) if packer else event
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        if packer is not None and end in ("done", "close-clean"):
            tail = packer.flush()
            writer.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        if end in ("done", "close-clean"):
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        if end == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif end == "hang":
            await asyncio.sleep(3600)
        elif end != "done":
            writer.close()

    return act


class RawUpstream:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.actions: deque[Action] = deque()
        self.lock = threading.Lock()

    def script(self, *actions: Action) -> None:
        with self.lock:
            self.actions.extend(actions)

    def start(self) -> RawUpstream:
        self.loop = asyncio.new_event_loop()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(self.handle, sock=self.sock))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(close(), self.loop)
        self.thread.join(5)
        self.loop.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head.decode("latin-1").split("\r\n")
                headers = {}
                for header in rest:
                    if header:
                        name, _, value = header.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                with self.lock:
                    self.requests.append(Received(line, headers, body))
                    action = self.actions.popleft() if self.actions else json_reply(completion())
                await action(writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            if not writer.is_closing():
                writer.close()
