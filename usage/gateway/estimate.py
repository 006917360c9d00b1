"""The usage of a request whose upstream never said what it used: a client that left (cancelled), a stream
that broke off, or one that ended without its `usage` event. Tokens were used all the same, so the row
records an estimate at once, costed like any row (row.price, at the effective prices):

- input: the request's text, characters / 4 (strategies.expected_tokens);
- output: the text actually relayed (content, reasoning, refusals and tool-call arguments of the stream's
  deltas, or a completion's text), characters / 4, rounded up; nothing for a non-stream reply cut short.

An estimate of a reply from OpenRouter with a generation id is `estimated`: the ledger's reconciliation
(usage/services/reconcile.py) replaces it with what OpenRouter billed, and until then the request keeps its
worst case reserved (app.finish). Other upstreams cannot be asked: their estimate stands (`unreconciled`).
"""

from __future__ import annotations

import math

import orjson

from usage.gateway.row import ESTIMATED, UNRECONCILED, LedgerRow
from usage.gateway.strategies import expected_tokens

CHARS_PER_TOKEN = 4
DELTA_TEXT = ("content", "reasoning", "refusal")


def _text_of(choice: dict) -> int:
    """Characters of output in one choice of a stream chunk."""
    chars = 0
    delta = choice.get("delta")
    if isinstance(delta, dict):
        for name in DELTA_TEXT:
            value = delta.get(name)
            if isinstance(value, str):
                chars += len(value)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    for name in ("name", "arguments"):
                        value = function.get(name)
                        if isinstance(value, str):
                            chars += len(value)
    text = choice.get("text")
    if isinstance(text, str):
        chars += len(text)
    return chars


def relayed_chars(chunks: list[bytes]) -> int:
    """Characters of output in these relayed stream bytes (whole SSE events)."""
    chars = 0
    for chunk in chunks:
        for event in chunk.split(b"\n\n"):
            if not event.startswith(b"data: {"):
                continue
            try:
                parsed = orjson.loads(event[6:])
            except orjson.JSONDecodeError:
                continue
            choices = parsed.get("choices") if isinstance(parsed, dict) else None
            if isinstance(choices, list):
                chars += sum(_text_of(choice) for choice in choices if isinstance(choice, dict))
    return chars


class Relayed:
    """The output characters of a stream's relayed events, read only when needed: the events are kept as
    they are (no parsing on the way) and folded into a count every FOLD bytes, so memory stays bounded."""

    FOLD = 65536

    __slots__ = ("chunks", "size", "chars")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.chars = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size >= self.FOLD:
            self.chars += relayed_chars(self.chunks)
            self.chunks, self.size = [], 0

    def tokens(self) -> int:
        """The output tokens relayed: characters / 4, rounded up."""
        return math.ceil((self.chars + relayed_chars(self.chunks)) / CHARS_PER_TOKEN)


def unpaid(row: LedgerRow) -> bool:
    """Did the request end without the upstream saying what it used, though it may have used tokens? A
    stream without usage says so itself (sse.py marks it); a non-stream request whose client left has no
    usage at all."""
    if row.cost_state == ESTIMATED:
        return True
    return (
        row.status == "cancelled"
        and not row.cost_state
        and not (row.prompt_tokens or row.completion_tokens)
        and row.reported_cost is None
    )


def estimate(row: LedgerRow, body: dict, endpoint: str, *, openrouter: bool) -> None:
    """Complete the estimate of an unpaid row (its output tokens, if any, are the relayed text's)."""
    row.prompt_tokens = expected_tokens(body, endpoint)[0]
    row.cost_state = ESTIMATED if openrouter and row.generation_id else UNRECONCILED
    row.meta["usage"] = "estimated: the prompt from the request, the output from the text relayed"
