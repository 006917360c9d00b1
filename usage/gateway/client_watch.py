"""Noticing a client that goes away while the gateway waits on the upstream (its headers, a whole JSON reply,
the next events of a stream), so that the upstream request is cancelled and stops being billed.

ASGI says a client left only through `receive()`, so watching takes a task waiting on it. Most requests are
answered before that task would be worth its cost (a task per request was ~20 µs of the event loop's CPU at
one connection, a tenth of the gateway's own work): the watch starts WATCH_AFTER after the request went
upstream, as a timer until then. A client that left earlier is noticed when the watch starts, as
`receive()` then answers `http.disconnect` at once: the upstream request is cancelled at most WATCH_AFTER
after the client left, while an LLM's reply takes hundreds of milliseconds to seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

WATCH_AFTER = 0.02  # seconds


class ClientWatch:
    """Calls `on_gone()` once the client disconnects, watched from `after` seconds on; `cancel()` ends it."""

    __slots__ = ("handle", "on_gone", "receive", "task")

    def __init__(self, receive, on_gone: Callable[[], None], after: float = WATCH_AFTER) -> None:
        self.receive = receive
        self.on_gone = on_gone
        self.task: asyncio.Future | None = None
        self.handle: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(after, self._start)

    def _start(self) -> None:
        self.handle = None
        self.task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.on_gone()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.task is not None:
            self.task.cancel()
            self.task = None
