"""The inference APIs the gateway serves, one small description each: its path, what its body must hold,
how its usage and its stream are read, the shape of its errors, and what it passes on. The pipeline
(app.py, request.py, plan.py, upstream.py, sse.py) is the same for all of them (docs/gateway.md).

- chat/completions and completions: OpenRouter's (OpenAI's) chat and legacy completions;
- messages: Anthropic's Messages API as OpenRouter serves it (Claude Code); Anthropic's model ids that name
  one catalogue model are accepted, errors are Anthropic's shape, `anthropic-version` / `anthropic-beta`
  and the query (`?beta=true`) are passed on;
- responses: OpenAI's Responses API;
- embeddings: no output, no stream, and always deterministic (the response cache applies when asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from usage.gateway.responses import GatewayError, anthropic_error_body, error_body
from usage.gateway.row import LedgerRow
from usage.gateway.sse import StreamReading, completions_reading
from usage.gateway.streams import MessagesReading, ResponsesReading
from usage.gateway.usage_shapes import anthropic_usage, embeddings_usage, responses_usage


def _invalid(message: str) -> GatewayError:
    return GatewayError(400, message, "invalid_request")


def _check_chat(body: dict) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("`messages` must be a non-empty array")
    if not all(isinstance(m, dict) for m in messages):
        raise _invalid("Each message must be an object")


def _check_completions(body: dict) -> None:
    if not isinstance(body.get("prompt"), str | list):
        raise _invalid("`prompt` must be a string or an array")


def _check_messages(body: dict) -> None:
    _check_chat(body)
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise _invalid("`system` must be a string or an array of content blocks")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise _invalid("`max_tokens` must be a positive integer")


def _check_responses(body: dict) -> None:
    value = body.get("input")
    if value is not None and not isinstance(value, str | list):
        raise _invalid("`input` must be a string or an array of input items")
    if value is None and not body.get("previous_response_id") and not body.get("prompt"):
        raise _invalid("`input` is required")
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise _invalid("`max_output_tokens` must be a positive integer")


def _token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(v) is int for v in value)


def _check_embeddings(body: dict) -> None:
    value = body.get("input")
    if isinstance(value, str) or _token_ids(value):
        return
    if isinstance(value, list) and value and all(isinstance(v, str) or _token_ids(v) for v in value):
        return
    raise _invalid(
        "`input` must be a string, an array of strings, or token ids (integers, or arrays of them)"
    )


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # the ledger's endpoint, and the upstream path under its base URL
    check_body: Callable[[dict], None]  # this API's own fields (400 on a bad body)
    take_usage: Callable[[LedgerRow, Any], None]  # a reply's `usage` into the row
    reading: Callable  # (row, started) -> the reader of its stream (sse.StreamReading, streams.py)
    error_body: Callable[..., bytes] = error_body  # our refusals' shape
    native_ids: bool = False  # Anthropic's own model ids are looked up in the catalogue
    deterministic: bool = False  # always the same reply to the same body (the cache needs no temperature 0)
    has_output: bool = True  # output tokens (the budget's worst case counts them)
    passed_headers: tuple[bytes, ...] = ()  # client headers passed on to the upstream
    query: bool = False  # the query string is passed on


def _with_usage(reader: Callable[[Any], Any]) -> Callable[[LedgerRow, Any], None]:
    def take(row: LedgerRow, usage: Any) -> None:
        row.take_usage(reader(usage))

    return take


CHAT = Endpoint("chat/completions", _check_chat, LedgerRow.take_usage, StreamReading)
COMPLETIONS = Endpoint("completions", _check_completions, LedgerRow.take_usage, completions_reading)
MESSAGES = Endpoint(
    "messages",
    _check_messages,
    _with_usage(anthropic_usage),
    MessagesReading,
    anthropic_error_body,
    native_ids=True,
    passed_headers=(b"anthropic-version", b"anthropic-beta"),
    query=True,
)
RESPONSES = Endpoint("responses", _check_responses, _with_usage(responses_usage), ResponsesReading)
EMBEDDINGS = Endpoint(
    "embeddings",
    _check_embeddings,
    _with_usage(embeddings_usage),
    StreamReading,
    deterministic=True,
    has_output=False,
)

ENDPOINTS = {
    f"/api/v1/{endpoint.name}": endpoint for endpoint in (CHAT, COMPLETIONS, MESSAGES, RESPONSES, EMBEDDINGS)
}
BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS.values()}
