"""The relay of a streamed reply: SSE events sent on as they arrive, read on the way for the ledger.

Only whole events are sent (a partial one waits for its end), so a stream the upstream breaks off (a reset,
a close before `data: [DONE]`, a read timeout) can still end with a well-formed error event in OpenRouter's
mid-stream shape, which the openai SDK raises on. A client that goes away cancels the upstream read (and
closes it); a stream that ends without its usage, for whatever reason, gets an estimate (estimate.py).
"""

from __future__ import annotations

import asyncio
import time

import orjson

from usage.gateway import cache
from usage.gateway.client_watch import ClientWatch
from usage.gateway.estimate import Relayed
from usage.gateway.http1 import HTTPError
from usage.gateway.responses import GatewayError, start_stream, stream_error_event
from usage.gateway.row import ESTIMATED, LedgerRow
from usage.gateway.snapshot import Route

AFTER_DONE = 1.0  # seconds an upstream may take to end its reply after `data: [DONE]`
NOT_SSE = 1_048_576  # a "partial event" this long is not SSE: relay it as it comes, stop reading events
DONE = b"data: [DONE]"


def _event_json(event: bytes) -> dict:
    try:
        parsed = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _event_start(block: bytes, at: int) -> int:
    """Where the event of these whole events that holds offset `at` begins."""
    begins = block.rfind(b"\n\n", 0, at) + 2
    return 0 if begins == 1 else begins  # 1: no separator before it, the block's first event


def _data_before(block: bytes, end: int) -> bytes:
    """The last `data: {` event of these whole events that ends before `end` (b"" if none)."""
    while end > 0:
        begins = _event_start(block, end - 2)
        if block.startswith(b"data: {", begins):
            return block[begins : end - 2]
        end = begins
    return b""


def _has_output(chunk: dict) -> bool:
    """Does this stream chunk carry output (content, text, reasoning or a tool call)?"""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    delta = choices[0].get("delta")
    if isinstance(delta, dict):
        return bool(delta.get("content") or delta.get("reasoning") or delta.get("tool_calls"))
    return bool(choices[0].get("text"))


class StreamReading:
    """What the relay learns from the events: first chunk, time to first output, usage (and the finish reason
    of the chunk before it), errors, the end."""

    __slots__ = ("row", "started", "events", "first", "usage", "error", "done", "relayed", "previous", "chat")

    def __init__(self, row: LedgerRow, started: float, chat: bool = True) -> None:
        self.chat = chat  # chat/completions (else completions)
        self.row = row
        self.started = started
        self.events = 0
        self.first: dict = {}
        self.usage: dict | None = None
        self.error = False  # the upstream sent an error event
        self.done = False  # `data: [DONE]` arrived
        self.relayed = Relayed()  # the whole events relayed: read only if no usage comes (estimate.py)
        self.previous = b""  # the last data event before this one: the finishing chunk, when usage comes

    def read_all(self, block: bytes) -> None:
        """Whole events, each ending in a blank line. They are read one by one until the first chunk and the
        first output are known; after that, a block without an error is searched instead of split: for
        `[DONE]`, its last usage chunk and the data chunk before that (a stream's usage comes once, at its
        end), and its last data chunk (the one before a usage chunk in the next block)."""
        start, end = 0, len(block)
        while self.events == 0 or self.row.ttft_ms is None:
            if start >= end:
                return
            stop = block.find(b"\n\n", start)
            self.read(block[start:stop])
            start = stop + 2
        rest = block[start:] if start else block
        if not rest:
            return
        if b'"error"' in rest:
            for event in rest.split(b"\n\n")[:-1]:
                self.read(event)
            return
        if rest.startswith(DONE) or b"\n\n" + DONE in rest:
            self.done = True
        at = rest.rfind(b'"usage"')
        if at >= 0:
            begins = _event_start(rest, at)
            event = rest[begins : rest.find(b"\n\n", at)]
            if event.startswith(b"data: {"):
                self.take_event(event, _data_before(rest, begins) or self.previous)
        last = _data_before(rest, len(rest))
        if last:
            self.previous = last

    def read(self, event: bytes) -> None:
        if not event.startswith(b"data: {"):
            if event.startswith(DONE):
                self.done = True
            return
        row = self.row
        self.events += 1
        if self.events == 1 or row.ttft_ms is None:
            parsed = _event_json(event)
            if self.events == 1:
                self.first = parsed
                row.take_reply(parsed)
            if _has_output(parsed):
                row.ttft_ms = int((time.monotonic() - self.started) * 1000)
        if b'"usage"' in event or b'"error"' in event:
            self.take_event(event, self.previous)
        self.previous = event

    def take_event(self, event: bytes, previous: bytes) -> None:
        """A chunk with usage (`previous`: the data chunk before it) or an error."""
        row = self.row
        parsed = _event_json(event)
        if isinstance(parsed.get("usage"), dict):
            self.usage = parsed["usage"]
            row.take_reply(parsed)
            if not row.finish_reason and previous:  # OpenRouter's usage chunk follows the finish
                row.take_finish(_event_json(previous))
        error = parsed.get("error")
        if isinstance(error, dict):
            self.error = True
            row.fail("error", 200, str(error.get("code", "stream_error")), str(error.get("message", "")))

    def broken(self, message: str) -> bytes:
        """The event that ends a stream the upstream broke off."""
        return stream_error_event(self.first, message, self.chat)

    def apply_usage(self) -> None:
        self.row.take_usage(self.usage)


def completions_reading(row: LedgerRow, started: float) -> StreamReading:
    return StreamReading(row, started, chat=False)


async def relay_stream(
    response,
    receive,
    send,
    row: LedgerRow,
    started: float,
    route: Route,
    capture,
    decoder,
    reader,
    named=None,
) -> None:
    """`reader(row, started)`: what reads this endpoint's events (StreamReading, or streams.py's);
    `named(row)`, once the generation id is known (the journal's `G` line)."""
    headers = [(cache.HEADER, cache.MISS)] if capture is not None and capture.cached else []
    generation = response.headers.get("x-generation-id")
    if generation:
        headers.append((b"x-generation-id", generation.encode("latin-1")))
        row.generation_id = generation[:200]
    await start_stream(send, headers)
    row.status, row.http_status = "ok", 200
    reading = reader(row, started)
    task = asyncio.current_task()
    state = {"gone": False, "done": False}

    def left() -> None:
        if not state["done"]:
            state["gone"] = True
            task.cancel()

    async def relay(data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})
        if capture is not None:
            capture.add(data)

    watcher = ClientWatch(receive, left)
    pending = last = b""
    events = True  # still reading events (False: not SSE after all, relayed as it comes)
    broken = ""
    try:
        try:
            while True:
                if reading.done:  # the stream is whole: what follows [DONE] is only waited for briefly
                    if response.at_eof():
                        break
                    try:
                        async with asyncio.timeout(AFTER_DONE):
                            chunk = await response.readany()
                    except TimeoutError:
                        response.close()
                        break
                else:
                    chunk = await response.readany()
                if not chunk:
                    break
                if decoder is not None:
                    chunk = decoder.decode(chunk)
                if not events:
                    await relay(chunk)
                    continue
                data = pending + chunk if pending else chunk
                end = data.rfind(b"\n\n")
                if end < 0:
                    pending = data
                    if len(pending) > NOT_SSE:
                        events, pending = False, b""
                        await relay(data)
                    continue
                pending = data[end + 2 :]
                complete = data[: end + 2]
                reading.relayed.add(complete)
                reading.read_all(complete)
                if reading.done and not pending and response.at_eof():
                    last = complete  # the stream's last events go with its end: one write, not two
                else:
                    await relay(complete)
                if named is not None and row.generation_id:
                    named(row)
                    named = None
                if reading.done:  # the client has the whole stream: its leaving now cancels nothing
                    state["done"] = True
            if pending:
                await relay(pending)
                reading.read(pending.rstrip(b"\n"))
            if events and not reading.done and not reading.error:
                broken = f"{route.label} ended the stream before its end (no [DONE])"
        except (TimeoutError, HTTPError, OSError) as exc:
            if not reading.done:
                broken = f"{route.label}'s stream broke off: {exc}"
        except GatewayError as exc:  # a corrupt compressed stream
            broken = exc.message
        if broken:
            row.fail("error", 200, "upstream_stream_broken", broken)
            await relay(reading.broken(broken))
        state["done"] = True
        if last and capture is not None:
            capture.add(last)
        await send({"type": "http.response.body", "body": last})
    except asyncio.CancelledError:
        if not state["gone"]:
            raise
        response.close()
        row.fail("cancelled", 499, "client_closed", "The client went away mid-stream")
    finally:
        state["done"] = True
        watcher.cancel()
    if reading.usage is not None:
        reading.apply_usage()
    else:  # no usage came (cancelled, broken, or never sent): the output is estimated from the text relayed
        row.completion_tokens = reading.relayed.tokens()
        row.cost_state = ESTIMATED  # the prompt's estimate follows (upstream.forward, estimate.py)
