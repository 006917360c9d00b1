"""A captured exchange made ready to store: bodies parsed, streams assembled, credentials redacted, sizes
capped (docs/gateway.md, "Capture"). Runs in the ledger writer's process, never in the gateway's.

A streamed reply is stored as the reply it adds up to: a chat stream as a `chat.completion` (each choice's
content, reasoning and tool calls joined), a completions stream as a `text_completion`, a Messages stream as
a `message` (its content blocks, tool inputs parsed), a Responses stream as the `response` of its last
event; each with the stream's final usage. Each body is kept within `limit` bytes of JSON: the longest
strings are cut first (ending "…"), so the conversation keeps its shape; a body that still does not fit
is kept as text, cut at `limit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from usage.redaction import redact_text, redact_value

CUT = "…"
HEAD_FIELDS = ("id", "model", "provider", "created")  # of a stream's first chunk, kept in its reply


@dataclass(slots=True)
class Exchange:
    request: Any  # parsed JSON, or None when the body is kept as text
    request_text: str
    reply: Any
    reply_text: str
    truncated: bool


def exchange_of(
    *, endpoint: str, stream: bool, request: bytes, reply: bytes, tail: bytes, cut: bool, limit: int
) -> Exchange:
    """`reply`: the reply's bytes (a stream's first ones when `cut`, then `tail`, its last chunk)."""
    request_value, request_text, request_cut = _body(_json(request), request, limit)
    if not reply:  # refused, answered from the cache, or failed before a reply
        reply_value, reply_text, reply_cut = None, "", False
    elif stream and not reply.lstrip().startswith(b"{"):  # (a stream asked for may be answered in JSON)
        assembled = assemble(endpoint, reply, tail if cut else b"")
        reply_value, reply_text, reply_cut = _body(assembled, reply, limit)
    else:
        parsed = None if cut else _json(reply)
        reply_value, reply_text, reply_cut = _body(parsed, reply, limit)
    return Exchange(request_value, request_text, reply_value, reply_text, cut or request_cut or reply_cut)


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _body(value: Any, raw: bytes, limit: int) -> tuple[Any, str, bool]:
    """(JSON value, "", cut) when the body is JSON, else (None, text, cut); redacted, within `limit`."""
    if value is None:
        text = redact_text(raw.decode("utf-8", "replace")).replace("\x00", "\ufffd")
        return None, _cut_text(text, limit), len(text.encode()) > limit
    value = redact_value(value)
    dumped = orjson.dumps(value)
    if b"\\u0000" in dumped:  # PostgreSQL refuses NUL in JSON and text: U+FFFD, as the ledger's rows
        value = orjson.loads(dumped.replace(b"\\u0000", b"\\ufffd"))
    if len(orjson.dumps(value)) <= limit:
        return value, "", False
    longest = limit
    while longest > 64:
        longest //= 2
        shorter = _cut_strings(value, longest)
        if len(orjson.dumps(shorter)) <= limit:
            return shorter, "", True
    return None, _cut_text(orjson.dumps(value).decode(), limit), True


def _cut_text(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + CUT


def _cut_strings(value: Any, longest: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= longest else value[:longest] + CUT
    if isinstance(value, list):
        return [_cut_strings(item, longest) for item in value]
    if isinstance(value, dict):
        return {name: _cut_strings(item, longest) for name, item in value.items()}
    return value


# ---- streams ----
def events(data: bytes) -> list[dict]:
    """The JSON objects of an SSE body's `data:` lines (whole events only)."""
    found = []
    for event in data.split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data: {") or line.startswith(b"data:{"):
                parsed = _json(line[5:])
                if isinstance(parsed, dict):
                    found.append(parsed)
    return found


def assemble(endpoint: str, head: bytes, tail: bytes) -> dict:
    """The reply a stream adds up to; `tail` (the last chunk of a stream cut short) only for its ends."""
    builder = {"messages": MessageStream, "responses": ResponseStream}.get(endpoint, ChatStream)()
    for event in events(head):
        builder.take(event, deltas=True)
    for event in events(tail):
        builder.take(event, deltas=False)
    return builder.result()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class ChatStream:
    """chat.completion.chunk events (and completions' text_completion chunks) joined into one reply."""

    def __init__(self) -> None:
        self.head: dict = {}
        self.choices: dict[int, dict] = {}
        self.usage: Any = None
        self.error: Any = None
        self.completion = False

    def take(self, event: dict, *, deltas: bool) -> None:
        if not self.head:
            self.head = {name: event[name] for name in HEAD_FIELDS if name in event}
        if event.get("usage") is not None:
            self.usage = event["usage"]
        if event.get("error") is not None:
            self.error = event["error"]
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0) if isinstance(choice.get("index"), int) else 0
            out = self.choices.setdefault(index, {"index": index, "message": {"role": "assistant"}})
            if choice.get("finish_reason"):
                out["finish_reason"] = choice["finish_reason"]
            if deltas:
                self._delta(out, choice)

    def _delta(self, out: dict, choice: dict) -> None:
        message = out["message"]
        if "text" in choice:  # completions
            self.completion = True
            out["text"] = out.get("text", "") + _text(choice.get("text"))
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        for name in ("content", "reasoning", "refusal"):
            if isinstance(delta.get(name), str):
                message[name] = message.get(name, "") + delta[name]
        for call in delta.get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            calls = message.setdefault("tool_calls", [])
            index = call.get("index", len(calls)) if isinstance(call.get("index"), int) else len(calls)
            while len(calls) <= index:
                calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            target = calls[index]
            if call.get("id"):
                target["id"] = call["id"]
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            target["function"]["name"] += _text(function.get("name"))
            target["function"]["arguments"] += _text(function.get("arguments"))

    def result(self) -> dict:
        choices = [self.choices[index] for index in sorted(self.choices)]
        if self.completion:
            choices = [{k: v for k, v in choice.items() if k != "message"} for choice in choices]
        kind = "text_completion" if self.completion else "chat.completion"
        reply = {**self.head, "object": kind, "choices": choices, "usage": self.usage}
        if self.error is not None:
            reply["error"] = self.error
        return reply


class MessageStream:
    """Anthropic's message_start … content_block_* … message_delta events joined into one message."""

    def __init__(self) -> None:
        self.message: dict = {"type": "message", "role": "assistant", "content": []}
        self.blocks: dict[int, dict] = {}
        self.json: dict[int, str] = {}

    def take(self, event: dict, *, deltas: bool) -> None:
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            self.message.update({k: v for k, v in event["message"].items() if k != "content"})
        elif kind == "message_delta":
            if isinstance(event.get("delta"), dict):
                self.message.update(event["delta"])
            if isinstance(event.get("usage"), dict):
                usage = self.message.get("usage") if isinstance(self.message.get("usage"), dict) else {}
                counts = {name: value for name, value in event["usage"].items() if value is not None}
                self.message["usage"] = {**usage, **counts}  # cumulative: they replace message_start's
        elif kind == "error":
            self.message["error"] = event.get("error")
        elif not deltas:
            return
        elif kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            self.blocks[event.get("index", len(self.blocks))] = dict(event["content_block"])
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            index, delta = event.get("index", 0), event["delta"]
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            if "partial_json" in delta:
                self.json[index] = self.json.get(index, "") + _text(delta["partial_json"])
            for name in ("text", "thinking"):
                if name in delta:
                    block[name] = _text(block.get(name)) + _text(delta[name])

    def result(self) -> dict:
        for index, text in self.json.items():
            parsed = _json(text.encode())
            self.blocks[index]["input"] = parsed if parsed is not None else text
        self.message["content"] = [self.blocks[index] for index in sorted(self.blocks)]
        return self.message


class ResponseStream:
    """The Responses API's events: the `response` of the last one that has it (response.completed carries
    the whole reply); if the stream ended before, the text of its output deltas."""

    def __init__(self) -> None:
        self.response: dict = {}
        self.text = ""
        self.ended = False

    def take(self, event: dict, *, deltas: bool) -> None:
        if isinstance(event.get("response"), dict):
            self.response = event["response"]
            self.ended = event.get("type") in ("response.completed", "response.incomplete", "response.failed")
        elif event.get("type") == "response.output_text.delta" and deltas:
            self.text += _text(event.get("delta"))
        elif event.get("type") == "error":
            self.response = {**self.response, "error": event.get("error") or event}

    def result(self) -> dict:
        if self.ended or not self.text:
            return self.response
        return {**self.response, "output_text": self.text}
