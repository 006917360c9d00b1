"""Readers of the named-event streams (`event: <type>` then `data: {...}`) of Anthropic's Messages API and
OpenAI's Responses API, for sse.relay_stream: what it learns on the way (the generation id, the model, time
to first output, usage, errors, the end), and the event that ends a stream the upstream broke off, in each
API's own shape so that its SDK raises on it. The chat stream's reader is sse.StreamReading.

Every event is parsed (these streams carry their usage in typed events, not in a final chunk), but for the
Messages text deltas after the first output, kept unread, and its pings; the output text relayed is
counted, for the estimate of a stream that ends without its usage.
"""

from __future__ import annotations

import math
import time

import orjson

from usage.gateway.estimate import CHARS_PER_TOKEN
from usage.gateway.row import LedgerRow
from usage.gateway.usage_shapes import anthropic_usage, responses_usage

DONE = b"data: [DONE]"
DELTA = b"event: content_block_delta\n"
SKIPPED = (DELTA, b"event: ping\n", b"event: content_block_stop\n")


class Counted:
    """The output characters relayed (sse.relay_stream's `relayed`): counted as the events are read, and
    from the Messages text deltas kept unread (`unread`), counted only when asked for, as only a stream
    without its usage needs them."""

    __slots__ = ("chars", "unread")

    def __init__(self) -> None:
        self.chars = 0
        self.unread: list[bytes] = []

    def add(self, chunk: bytes) -> None:  # the events are counted when read
        pass

    def tokens(self) -> int:
        for event in self.unread:
            data = _data(event)
            if data is not None:
                self.chars += _delta_chars(data.get("delta"))
        self.unread.clear()
        return math.ceil(self.chars / CHARS_PER_TOKEN)


def _data(event: bytes) -> dict | None:
    """The JSON object of an event's `data:` line, if any."""
    start = event.find(b"data: {")
    if start < 0:
        return None
    end = event.find(b"\n", start)
    try:
        parsed = orjson.loads(event[start + 6 : end if end >= 0 else len(event)])
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _text(value) -> int:
    return len(value) if isinstance(value, str) else 0


def _delta_chars(delta) -> int:
    """The output characters of a Messages content_block_delta's `delta`."""
    if not isinstance(delta, dict):
        return 0
    return _text(delta.get("text")) + _text(delta.get("thinking")) + _text(delta.get("partial_json"))


class NamedEventReading:
    __slots__ = ("row", "started", "first", "usage", "error", "done", "relayed", "events")

    def __init__(self, row: LedgerRow, started: float) -> None:
        self.row = row
        self.started = started
        self.first: dict = {}
        self.usage: dict | None = None
        self.error = False
        self.done = False
        self.relayed = Counted()
        self.events = 0

    def read_all(self, block: bytes) -> None:
        """Whole events, each ending in a blank line."""
        for event in block.split(b"\n\n")[:-1]:
            self.read(event)

    def read(self, event: bytes) -> None:
        if event.startswith(DONE) or b"\ndata: [DONE]" in event:
            self.done = True
            return
        data = _data(event)
        if data is not None:
            self.events += 1
            self.take(data)

    def output(self, chars: int) -> None:
        self.relayed.chars += chars
        if self.row.ttft_ms is None:
            self.row.ttft_ms = int((time.monotonic() - self.started) * 1000)

    def take(self, data: dict) -> None:
        raise NotImplementedError


class MessagesReading(NamedEventReading):
    """message_start (id, model, input usage) … content_block_delta … message_delta (cumulative usage) …
    message_stop; an `error` event makes the row an error. The usage is whole only with message_delta: a
    stream cut before it is estimated (its output from the text relayed)."""

    __slots__ = ("started_usage",)

    def __init__(self, row: LedgerRow, started: float) -> None:
        super().__init__(row, started)
        self.started_usage: dict = {}

    def read_all(self, block: bytes) -> None:
        """Whole events, each ending in a blank line. Once the first output is known, the text deltas are
        kept unread (Counted.tokens reads them if the usage never comes), and pings and block ends, which
        say nothing, are passed over: the usage, the finish and errors come in events of their own."""
        unread = self.relayed.unread
        for event in block.split(b"\n\n")[:-1]:
            if self.row.ttft_ms is not None and event.startswith(SKIPPED):
                if event.startswith(DELTA):
                    unread.append(event)
                continue
            self.read(event)

    def take(self, data: dict) -> None:
        kind = data.get("type")
        if kind == "content_block_delta":
            self.output(_delta_chars(data.get("delta")))
        elif kind == "message_start":
            message = data.get("message")
            if isinstance(message, dict):
                self.first = message
                self.row.take_reply(message)
                if isinstance(message.get("usage"), dict):
                    self.started_usage = message["usage"]
        elif kind == "content_block_start":
            block = data.get("content_block")
            if isinstance(block, dict) and block.get("type") == "tool_use":
                self.output(_text(block.get("name")))
        elif kind == "message_delta":
            if isinstance(data.get("delta"), dict):
                self.row.take_finish(data["delta"])  # its stop_reason
            usage = data.get("usage")
            if isinstance(usage, dict):  # cumulative counts: they replace message_start's
                self.usage = {**self.started_usage, **{k: v for k, v in usage.items() if v is not None}}
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            error = data.get("error")
            error = error if isinstance(error, dict) else {}
            self.error = True
            self.row.fail(
                "error", 200, str(error.get("type") or "stream_error"), str(error.get("message", ""))
            )

    def broken(self, message: str) -> bytes:
        error = {"type": "error", "error": {"type": "api_error", "message": message}}
        return b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"

    def apply_usage(self) -> None:
        self.row.take_usage(anthropic_usage(self.usage))


RESPONSE_DELTAS = frozenset(
    {"response.output_text.delta", "response.reasoning_text.delta", "response.refusal.delta"}
    | {"response.function_call_arguments.delta", "response.reasoning_summary_text.delta"}
)
RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesReading(NamedEventReading):
    """response.created (id, model) … response.output_text.delta … response.completed (usage); a
    response.failed or an `error` event makes the row an error."""

    __slots__ = ()

    def take(self, data: dict) -> None:
        kind = data.get("type")
        if kind in RESPONSE_DELTAS:
            self.output(_text(data.get("delta")))
        elif kind == "response.created" or kind in RESPONSE_ENDS:
            response = data.get("response")
            if not isinstance(response, dict):
                return
            if kind == "response.created":
                self.first = response
            self.row.take_reply(response)
            if isinstance(response.get("usage"), dict):
                self.usage = response["usage"]
            if kind in RESPONSE_ENDS:
                self.done = True
            error = response.get("error")
            if kind == "response.failed" and isinstance(error, dict):
                self.fail(error)
        elif kind == "error":
            self.fail(data.get("error") if isinstance(data.get("error"), dict) else data)

    def fail(self, error: dict) -> None:
        self.error = True
        self.row.fail("error", 200, str(error.get("code") or "stream_error"), str(error.get("message", "")))

    def broken(self, message: str) -> bytes:
        error = {"code": "upstream_stream_broken", "message": message}
        event = {"type": "error", **error, "param": None, "sequence_number": self.events, "error": error}
        return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"

    def apply_usage(self) -> None:
        self.row.take_usage(responses_usage(self.usage))
