"""The one place the gateway sends responses: JSON bodies, errors in OpenRouter's shape, stream starts, and
the SSE error event that ends a stream the upstream broke off."""

from __future__ import annotations

from typing import Any

import orjson

JSON = b"application/json"
EVENT_STREAM = b"text/event-stream"
REQUEST_ID = b"x-tokenledger-request-id"  # our id of the request: GET /generation?id= takes it


class GatewayError(Exception):
    """A refusal or failure, answered as `{"error": {"code", "message", "metadata"[, "type"]}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "",
        retry_after: int | None = None,
        meta: dict | None = None,  # routing details for the ledger row of the refused request
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or str(status)
        self.retry_after = retry_after
        self.meta = meta


def error_body(status: int, message: str, code: str = "", metadata: dict | None = None) -> bytes:
    error: dict[str, Any] = {"code": status, "message": message, "metadata": metadata or {}}
    if code:
        error["type"] = code
    return orjson.dumps({"error": error})


async def start(send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def send_body(send, status: int, body: bytes, content_type: bytes = JSON, headers=()) -> None:
    """A whole response with a known length."""
    await start(
        send,
        status,
        [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers],
    )
    await send({"type": "http.response.body", "body": body})


# Anthropic's error types by HTTP status (the anthropic SDK's types/shared/*_error_object.py); 402 is
# Anthropic's billing_error, which OpenRouter's /messages answers a lack of credits with.
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_body(status: int, message: str, code: str = "", metadata: dict | None = None) -> bytes:
    """An error in Anthropic's shape: {"type": "error", "error": {"type", "message"}} (the anthropic SDK
    raises the exception of the status); our own code is kept in `error.code`."""
    kind = ANTHROPIC_ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return orjson.dumps({"type": "error", "error": error})


async def send_error(send, exc: GatewayError, shape=error_body) -> None:
    """The error answered in `shape` (error_body: OpenRouter's and OpenAI's; anthropic_error_body)."""
    headers = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else ()
    await send_body(send, exc.status, shape(exc.status, exc.message, exc.code), headers=headers)


async def start_stream(send, headers=()) -> None:
    await start(send, 200, [(b"content-type", EVENT_STREAM), (b"cache-control", b"no-cache"), *headers])


def stream_error_event(first: dict, message: str, chat: bool) -> bytes:
    """OpenRouter's mid-stream error: a chunk with `error` and finish_reason "error" (the openai SDK raises
    on it), echoing the id, model and provider of the stream's first chunk (`first`)."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": "error"}
    if chat:
        choice["delta"] = {"content": ""}
    else:
        choice["text"] = ""
    event: dict[str, Any] = {
        "id": first.get("id") or "",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": first.get("created") or 0,
        "model": first.get("model") or "",
    }
    if first.get("provider"):
        event["provider"] = first["provider"]
    event["error"] = {"code": 502, "message": message}
    event["choices"] = [choice]
    return b"data: " + orjson.dumps(event) + b"\n\n"


class LastHeld:
    """A completion's ASGI `send`: every answer (the reply, a refusal, a cache hit) names the request in
    its start's headers (our request id, for GET /generation), and the reply's last message is held until
    `release()`: the gateway journals the row first, so a reply its client got whole always has its whole
    row, whenever the process is killed.

    The start (status and headers) waits for the first body message, and goes with it: a reply in one
    body reaches its client in two writes back to back, which wake it once, not twice (a wake-up on the
    loopback cost the gateway ~20 µs of CPU). One check per message, no copy of a body."""

    __slots__ = ("header", "last", "send", "start")

    def __init__(self, send, request_id: str) -> None:
        self.send = send
        self.header = (REQUEST_ID, request_id.encode())
        self.start: dict | None = None
        self.last: dict | None = None

    async def __call__(self, message: dict) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            message["headers"] = [*message["headers"], self.header]
            self.start = message
            return
        if kind == "http.response.body" and not message.get("more_body"):
            self.last = message
            return
        if self.start is not None:
            start, self.start = self.start, None
            await self.send(start)
        await self.send(message)

    async def release(self) -> None:
        if self.start is not None:
            start, self.start = self.start, None
            await self.send(start)
        if self.last is not None:
            await self.send(self.last)
