"""A captured exchange laid out as a conversation for the activity page: turns (system, user, assistant,
tool) of parts (text, reasoning, tool calls and their results, images, anything else as JSON), from the
request's messages and the reply, in the chat completions, completions, Messages and Responses shapes.
Other bodies are shown as JSON only. Text is never marked safe: the template escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "error"})  # others: "other" (CSS)
TEXT_TYPES = frozenset({"text", "input_text", "output_text", "summary_text", "refusal"})


@dataclass(slots=True)
class Part:
    kind: str  # text | reasoning | tool_call | tool_result | image | data
    text: str
    label: str = ""  # a tool's name and call id


@dataclass(slots=True)
class Turn:
    role: str
    parts: list[Part] = field(default_factory=list)
    reply: bool = False  # from the reply (else from the request)

    @property
    def css(self) -> str:
        return self.role if self.role in ROLES else "other"


@dataclass(slots=True)
class Conversation:
    turns: list[Turn]
    request_json: str  # pretty-printed, or the body's text
    reply_json: str
    usage_json: str  # the reply's usage (a stream's final one), if it has one
    truncated: bool


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _arguments(value: Any) -> str:
    """Tool-call arguments: a JSON string shown indented, anything else as it is."""
    if isinstance(value, str):
        try:
            return pretty(orjson.loads(value))
        except orjson.JSONDecodeError:
            return value
    return pretty(value)


def _text(value: Any) -> str:
    """A tool result's content: a string, or text blocks joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            _text(item.get("text", item)) if isinstance(item, dict) else _text(item) for item in value
        )
    return pretty(value)


def _image(item: dict) -> Part:
    url = item.get("image_url") or item.get("source") or item.get("url") or ""
    url = url.get("url", "") if isinstance(url, dict) else url
    if not isinstance(url, str) or url.startswith("data:"):
        url = "(image data)"
    return Part("image", url)


def parts(content: Any) -> list[Part]:
    """The parts of a message's content: a string, or a list of typed blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [Part("text", content)] if content else []
    if not isinstance(content, list):
        return [Part("data", pretty(content))]
    found = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(item, str):
            found.append(Part("text", item))
        elif kind in TEXT_TYPES:
            found.append(Part("text", _text(item.get("text", item.get("refusal", "")))))
        elif kind in ("image_url", "input_image", "image"):
            found.append(_image(item))
        elif kind in ("thinking", "reasoning"):
            found.append(Part("reasoning", _text(item.get("thinking", item.get("text", "")))))
        elif kind == "tool_use":
            label = f"{item.get('name', '')} · {item.get('id', '')}"
            found.append(Part("tool_call", _arguments(item.get("input")), label))
        elif kind == "tool_result":
            found.append(Part("tool_result", _text(item.get("content")), str(item.get("tool_use_id", ""))))
        else:
            found.append(Part("data", pretty(item)))
    return found


def chat_turn(message: dict, *, reply: bool = False) -> Turn:
    """A chat completions message: its reasoning, content, tool calls; a tool message is a result."""
    role = str(message.get("role") or "assistant")
    turn = Turn(role, reply=reply)
    if isinstance(message.get("reasoning"), str) and message["reasoning"]:
        turn.parts.append(Part("reasoning", message["reasoning"]))
    if role == "tool":
        turn.parts.append(
            Part("tool_result", _text(message.get("content")), str(message.get("tool_call_id", "")))
        )
    else:
        turn.parts += parts(message.get("content"))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        turn.parts.append(Part("text", message["refusal"]))
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            label = f"{function.get('name', '')} · {call.get('id', '')}"
            turn.parts.append(Part("tool_call", _arguments(function.get("arguments", "")), label))
    return turn


def response_item(item: Any, *, reply: bool = False) -> Turn:
    """An item of a Responses API input or output."""
    if not isinstance(item, dict):
        return Turn("user", parts(item) if isinstance(item, list) else [Part("text", _text(item))], reply)
    kind = item.get("type")
    if kind == "function_call":
        label = f"{item.get('name', '')} · {item.get('call_id', '')}"
        return Turn("assistant", [Part("tool_call", _arguments(item.get("arguments", "")), label)], reply)
    if kind == "function_call_output":
        return Turn(
            "tool", [Part("tool_result", _text(item.get("output")), str(item.get("call_id", "")))], reply
        )
    if kind == "reasoning":
        return Turn(
            "assistant", [Part("reasoning", _text(item.get("summary") or item.get("content") or ""))], reply
        )
    if "role" in item:
        return Turn(str(item["role"]), parts(item.get("content")), reply)
    return Turn("other", [Part("data", pretty(item))], reply)


def request_turns(endpoint: str, body: Any) -> list[Turn]:
    if not isinstance(body, dict):
        return []
    if endpoint == "chat/completions":
        return [chat_turn(m) for m in body.get("messages") or () if isinstance(m, dict)]
    if endpoint == "completions":
        return [Turn("user", [Part("text", _text(body.get("prompt", "")))])]
    if endpoint == "messages":
        turns = [Turn("system", parts(body["system"]))] if body.get("system") else []
        for message in body.get("messages") or ():
            if isinstance(message, dict):
                turns.append(Turn(str(message.get("role", "user")), parts(message.get("content"))))
        return turns
    if endpoint == "responses":
        turns = (
            [Turn("system", [Part("text", _text(body["instructions"]))])] if body.get("instructions") else []
        )
        given = body.get("input")
        if isinstance(given, str):
            return [*turns, Turn("user", [Part("text", given)])]
        return turns + [response_item(item) for item in given or ()]
    return []


def reply_turns(endpoint: str, body: Any) -> list[Turn]:
    if not isinstance(body, dict):
        return []
    turns = []
    if isinstance(body.get("error"), dict):
        turns.append(Turn("error", [Part("text", _text(body["error"].get("message", body["error"])))], True))
    if endpoint == "chat/completions":
        for choice in body.get("choices") or ():
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                turns.append(chat_turn(choice["message"], reply=True))
    elif endpoint == "completions":
        for choice in body.get("choices") or ():
            if isinstance(choice, dict):
                turns.append(Turn("assistant", [Part("text", _text(choice.get("text", "")))], True))
    elif endpoint == "messages" and body.get("type") == "message":
        turns.append(Turn("assistant", parts(body.get("content")), True))
    elif endpoint == "responses":
        turns += [response_item(item, reply=True) for item in body.get("output") or ()]
        if not body.get("output") and body.get("output_text"):
            turns.append(Turn("assistant", [Part("text", _text(body["output_text"]))], True))
    return turns


def conversation_of(
    *, endpoint: str, request: Any, request_text: str, reply: Any, reply_text: str, truncated: bool
) -> Conversation:
    return Conversation(
        turns=request_turns(endpoint, request) + reply_turns(endpoint, reply),
        request_json=request_text if request is None else pretty(request),
        reply_json=reply_text if reply is None else pretty(reply),
        usage_json=pretty(reply["usage"])
        if isinstance(reply, dict) and isinstance(reply.get("usage"), dict)
        else "",
        truncated=truncated,
    )
