"""A completion request: its body read within limits (size, idle time, total time), parsed once and checked.

Bodies are forwarded as received, never re-encoded, except where routing must change them (plan.py); what
orjson cannot encode again (nested deeper than 254 levels) is refused here, at parse time, on every path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson

from usage.gateway.endpoints import BY_NAME, CHAT, Endpoint
from usage.gateway.responses import GatewayError

MAX_DEPTH = 254  # orjson.dumps' limit: a body nested deeper could not be re-encoded for routing or caching


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    idle_seconds: float  # longest wait for the next chunk
    total_seconds: float  # longest time to receive the whole body


@dataclass(slots=True)
class CompletionRequest:
    endpoint: str  # the ledger's endpoint name: "chat/completions", "messages"... (endpoints.py)
    raw: bytes  # as received
    body: dict
    model: str | list[str] | None  # a model id, a list of them (tried in turn), or None when only `models`
    models: list[str]  # OpenRouter's `models` fallbacks as sent
    stream: bool
    spec: Endpoint = CHAT  # the endpoint's description


async def read_body(scope, receive, limits: BodyLimits) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise GatewayError(400, "Bad Content-Length header")
            if int(value) > limits.max_bytes:
                raise GatewayError(413, f"Request body over {limits.max_bytes} bytes", "body_too_large")
    chunks = []
    size = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.total_seconds
    whole = limits.total_seconds <= limits.idle_seconds  # the next timeout is the whole body's
    try:
        async with asyncio.timeout(min(limits.idle_seconds, limits.total_seconds)) as timer:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise GatewayError(499, "The client went away", "client_closed")
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise GatewayError(
                            413, f"Request body over {limits.max_bytes} bytes", "body_too_large"
                        )
                    chunks.append(chunk)
                if not message.get("more_body"):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
                idle_until = loop.time() + limits.idle_seconds
                whole = deadline <= idle_until
                timer.reschedule(min(idle_until, deadline))
    except TimeoutError:
        if whole:
            message = f"The request body took over {limits.total_seconds:g} s to arrive"
        else:
            message = f"The request body stalled for over {limits.idle_seconds:g} s"
        raise GatewayError(408, message, "body_timeout") from None


def decode(raw: bytes) -> dict:
    """The body as a JSON object; 400 for anything else, or for nesting orjson could not encode again."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson reads up to 1024 levels
            raise _too_deep() from None
        raise GatewayError(400, "The request body is not valid JSON", "invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object", "invalid_request")
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:  # cheap test first: deep nesting needs many brackets
        try:
            orjson.dumps(body)
        except TypeError:  # "Recursion limit reached": the only thing a parsed body can fail on
            raise _too_deep() from None
    return body


def _too_deep() -> GatewayError:
    return GatewayError(400, f"The request body is nested deeper than {MAX_DEPTH} levels", "invalid_json")


def asked(body: dict) -> tuple[str, bool, str]:
    """What a body asks for, read leniently (for a refused request's row too): (model, stream, user)."""
    model = body.get("model")
    if isinstance(model, list):
        model = ",".join(m for m in model if isinstance(m, str))
    elif not isinstance(model, str) or not model:
        models = body.get("models")
        model = models[0] if isinstance(models, list) and models and isinstance(models[0], str) else ""
    user = body.get("user")
    return model[:200], body.get("stream") is True, user[:200] if isinstance(user, str) else ""


def check(raw: bytes, body: dict, endpoint: Endpoint | str) -> CompletionRequest:
    """The request if its body is one OpenRouter would take; else 400 with what is wrong."""
    if isinstance(endpoint, str):
        endpoint = BY_NAME[endpoint]
    model = body.get("model")
    models = body.get("models")
    if models is not None and (
        not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)
    ):
        raise GatewayError(400, "`models` must be an array of model ids", "invalid_request")
    if model is None and not models:
        raise GatewayError(400, "`model` is required", "invalid_request")
    if isinstance(model, list):  # Fusion style: an ordered list of models, tried in turn
        if not model or not all(isinstance(m, str) and m for m in model):
            raise GatewayError(400, "`model` as a list must hold model id strings", "invalid_request")
    elif model is not None and (not isinstance(model, str) or not model):
        raise GatewayError(400, "`model` must be a model id string", "invalid_request")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise GatewayError(400, "`stream` must be true or false", "invalid_request")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise GatewayError(400, "`user` must be a string", "invalid_request")
    endpoint.check_body(body)
    return CompletionRequest(endpoint.name, raw, body, model, list(models or ()), bool(stream), endpoint)
