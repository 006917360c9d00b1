"""A fake OpenRouter: a small ASGI app served on a loopback port for gateway, sync and browser tests.

Real sockets and real streaming, deterministic replies in OpenRouter's shapes.

Use it through the pytest fixtures in tests/conftest.py:

- ``fake_openrouter``: the fake, started on ``127.0.0.1:<port>``; ``fake_openrouter.url`` is
  ``http://127.0.0.1:<port>/api/v1`` and ``settings.OPENROUTER_BASE_URL`` points at it.
- ``gateway_server``: ``fake_openrouter`` then ``live_asgi`` (the whole product), started in that order
  so the gateway's upstream client points at the fake. ``gateway_server.url`` is the product's root URL,
  ``gateway_server.api_url`` its ``/api/v1``, ``gateway_server.fake`` the fake.
- ``make_api_key(owner=None, **fields) -> str``: creates a key through ``usage.services.api_key_create``
  and returns its secret.

Endpoints:

- ``POST /api/v1/chat/completions`` and ``POST /api/v1/completions``: a ``chat.completion`` /
  ``text_completion`` JSON, or with ``"stream": true`` an SSE stream: ``: OPENROUTER PROCESSING``, a role
  chunk, the content split in ``Reply.chunks`` pieces, a ``finish_reason`` chunk, a usage chunk with empty
  ``choices`` (always sent, as OpenRouter does, whatever ``stream_options`` says) and ``data: [DONE]``.
  The reply echoes the request's ``model`` unless ``Reply.model`` is set.
- ``POST /api/v1/messages``, ``/responses``, ``/embeddings``: Anthropic's Messages API, OpenAI's Responses
  API and embeddings, in their SDKs' shapes, scripted by the same ``Reply`` (tests/fakes/apis.py).
- ``GET /api/v1/models``: ``fake.models`` (a Models API body, ``{"data": [...]}``; default: the
  2026-08-19 snapshot of tests/data/openrouter).
- ``GET /api/v1/generation?id=<generation id>``: what it billed for that generation, in OpenRouter's shape
  (``{"data": {"id", "total_cost", "native_tokens_prompt", "native_tokens_completion", ...}}``: the reply's
  tokens and cost, ``cancelled`` when its client left early); 404 for an id it never served, and for the
  next ``fake.generation_not_ready`` calls (stats not ready yet: each 404 counts it down).
- Anything else: 404 in OpenRouter's error shape.

Scripting the next responses (``Reply`` fields, all optional):

    fake_openrouter.reply(text="<script>alert(1)</script>")        # next request only (a FIFO queue)
    fake_openrouter.reply(status=429, message="Rate limited")       # an error: {"error": {"code", "message", "metadata"}}
    fake_openrouter.reply(chunks=10, chunk_delay=0.5)               # a slow stream a client can cancel
    fake_openrouter.reply(cached_tokens=80, cache_write_tokens=20, reasoning_tokens=5, cost="0.0012")
    fake_openrouter.reply(stream_error="Provider disconnected")    # a mid-stream error event, then the end
    fake_openrouter.reply(tool_calls=[{"id": "call_1", "type": "function",
                                       "function": {"name": "f", "arguments": "{}"}}])
    fake_openrouter.reply(raw=b"<html>oops</html>", content_type="text/html")  # garbage
    fake_openrouter.reply(headers_delay=3)                          # headers only after 3 s (timeouts)
    fake_openrouter.default = Reply(...)                            # for every request the queue leaves

Defaults: text ``"Hello from the fake OpenRouter."`` in 4 chunks, prompt 12 / completion 8 tokens, cost
``0.0000066``, provider ``"OpenAI"``, id ``gen-fake-<n>`` (n counts requests from 1). Tokens: ``prompt_tokens``
includes cached and cache-write tokens; ``completion_tokens`` includes reasoning tokens (as OpenRouter).

What it received: ``fake_openrouter.requests`` (a list of ``ReceivedRequest``: method, path, headers
(dict, lower-case names), body (bytes), json (parsed or None)); ``fake_openrouter.last``;
``fake_openrouter.closed_early`` counts streams whose client went away before the end, and
``fake_openrouter.wait_closed_early(n, timeout)`` waits for that count (no sleeps in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

KINDS = ("chat/completions", "completions", "messages", "responses", "embeddings")
SNAPSHOT = Path(__file__).resolve().parent.parent / "data" / "openrouter" / "models-2026-08-19.json"
CREATED = 1764547200  # fixed "created" epoch seconds, so replies are deterministic


@dataclass(frozen=True)
class Reply:
    status: int = 200
    text: str = "Hello from the fake OpenRouter."
    chunks: int = 4  # content pieces in a stream
    chunk_delay: float = 0.0  # seconds between stream events
    headers_delay: float = 0.0  # seconds before the response starts
    model: str | None = None  # default: the requested model
    provider: str = "OpenAI"
    generation_id: str | None = None  # default: gen-fake-<n>
    prompt_tokens: int = 12
    completion_tokens: int = 8
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes
    cache_write_1h_tokens: int = 0  # of which one-hour ones (usage.cache_creation, as OpenRouter splits them)
    reasoning_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0
    web_search_requests: int = 0
    cost: str | None = "0.0000066"  # usage.cost; None leaves it out
    usage: bool = True  # False: no usage at all (a broken upstream)
    tool_calls: list | None = None
    finish_reason: str | None = None  # default: "tool_calls" with tool_calls, else "stop"
    stream_error: str | None = None  # a mid-stream error event after the first content chunk
    message: str | None = None  # error message (status >= 400)
    code: int | str | None = None  # error code, default the status
    metadata: dict | None = None  # error metadata
    raw: bytes | None = None  # send these bytes as the body, whatever was asked
    content_type: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()


ERROR_MESSAGES = {
    400: "Invalid request",
    401: "No auth credentials found",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Moderation flagged your input",
    408: "Request timed out",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "No available model provider that meets your routing requirements",
}


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    query: str = ""  # the query string, e.g. "beta=true"


@dataclass
class FakeOpenRouter:
    default: Reply = field(default_factory=Reply)
    models: dict | None = None  # Models API body; None: the 2026-08-19 snapshot
    url: str = ""  # set when served: http://127.0.0.1:<port>/api/v1

    def __post_init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.closed_early = 0
        self.generations: dict[str, dict] = {}  # generation id -> its stats (GET /generation's data)
        self.generation_not_ready = 0  # answer the next this many GET /generation calls 404
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closed_cond = threading.Condition(self._lock)

    # ---- scripting ----
    def reply(self, reply: Reply | None = None, /, **fields) -> Reply:
        """Queue the reply to the next request (fields as in Reply)."""
        reply = replace(reply or self.default, **fields) if fields or reply else self.default
        with self._lock:
            self._queue.append(reply)
        return reply

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.closed_early = 0
            self.generations.clear()
            self.generation_not_ready = 0

    @property
    def last(self) -> ReceivedRequest:
        return self.requests[-1]

    def wait_closed_early(self, count: int = 1, timeout: float = 10.0) -> bool:
        with self._closed_cond:
            return self._closed_cond.wait_for(lambda: self.closed_early >= count, timeout=timeout)

    def _next(self) -> tuple[Reply, int]:
        with self._lock:
            reply = self._queue.popleft() if self._queue else self.default
            return reply, len(self.requests)

    # ---- ASGI ----
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        query = scope.get("query_string", b"").decode("latin-1")
        request = ReceivedRequest(scope["method"], scope["path"], headers, body, parsed, query)
        with self._lock:
            self.requests.append(request)
        path = scope["path"].removeprefix("/api").removeprefix("/v1")
        if scope["method"] == "GET" and path == "/models":
            await _send_json(send, 200, self.models_body())
        elif scope["method"] == "GET" and path == "/generation":
            await self._generation(scope, send)
        elif scope["method"] == "POST" and path[1:] in KINDS:
            reply, number = self._next()
            await self._complete(reply, number, path[1:], parsed, receive, send)
        else:
            await _send_json(send, 404, _error(404, "Not Found", None))

    async def _generation(self, scope, send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        gen_id = (query.get("id") or [""])[0]
        with self._lock:
            stats = self.generations.get(gen_id)
            if stats is not None and self.generation_not_ready > 0:
                self.generation_not_ready -= 1
                stats = None
        if stats is None:
            await _send_json(send, 404, _error(404, f"Generation {gen_id} not found", None))
        else:
            await _send_json(send, 200, {"data": stats})

    def _bill(self, reply: Reply, gen_id: str, model: str, streamed: bool) -> None:
        """Remember what this generation is billed (GET /generation)."""
        if reply.cost is None:
            return
        with self._lock:
            self.generations[gen_id] = generation_stats(reply, gen_id, model, streamed)

    def _cancelled(self, gen_id: str) -> None:
        with self._lock:
            if gen_id in self.generations:
                self.generations[gen_id]["cancelled"] = True

    def models_body(self) -> dict:
        if self.models is None:
            self.models = json.loads(SNAPSHOT.read_text())
        return self.models

    async def _complete(self, reply: Reply, number: int, kind: str, body, receive, send) -> None:
        from tests.fakes import apis  # (it imports this module's Reply)

        chat = kind == "chat/completions"
        if reply.headers_delay:
            try:  # a client (the gateway) that closes before the headers is counted as closed early
                message = await asyncio.wait_for(receive(), reply.headers_delay)
            except TimeoutError:
                message = None
            if message is not None and message["type"] == "http.disconnect":
                with self._closed_cond:
                    self.closed_early += 1
                    self._closed_cond.notify_all()
                return
        gen_id = reply.generation_id or f"gen-fake-{number}"
        extra = [(k.encode(), v.encode()) for k, v in reply.extra_headers]
        if reply.raw is not None:
            content_type = (reply.content_type or "application/json").encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": [(b"content-type", content_type), *extra],
                }
            )
            await send({"type": "http.response.body", "body": reply.raw})
            return
        if reply.status >= 400:
            message = reply.message or ERROR_MESSAGES.get(reply.status, "Error")
            error = _error(reply.code or reply.status, message, reply.metadata)
            if kind == "messages":
                error = apis.anthropic_error(reply.status, message)
            await _send_json(send, reply.status, error, extra)
            return
        body = body if isinstance(body, dict) else {}
        model = reply.model or str(body.get("model") or "openai/gpt-4o-mini")
        self._bill(reply, gen_id, model, body.get("stream") is True)
        if body.get("stream") is True and kind != "embeddings":
            if kind == "messages":
                events = apis.message_events(reply, gen_id, model)
            elif kind == "responses":
                events = apis.response_events(reply, gen_id, model, body)
            else:
                events = _stream_events(reply, gen_id, model, chat)
            await self._stream(reply, gen_id, events, receive, send, extra)
        else:
            if kind == "messages":
                payload = apis.message(reply, gen_id, model)
            elif kind == "responses":
                payload = apis.response(reply, gen_id, model, body)
            elif kind == "embeddings":
                payload = apis.embeddings(reply, gen_id, model, body)
            else:
                payload = _completion(reply, gen_id, model, chat)
            await _send_json(send, 200, payload, [(b"x-generation-id", gen_id.encode()), *extra])

    async def _stream(self, reply, gen_id, events, receive, send, extra) -> None:
        gone = asyncio.Event()

        async def watch():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.ensure_future(watch())
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"x-generation-id", gen_id.encode()),
            *extra,
        ]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for event in events:
                if reply.chunk_delay:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(gone.wait(), reply.chunk_delay)
                if gone.is_set():
                    self._cancelled(gen_id)
                    with self._closed_cond:
                        self.closed_early += 1
                        self._closed_cond.notify_all()
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()


def _error(code, message: str, metadata: dict | None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    return {"error": error}


async def _send_json(send, status: int, payload: dict, headers: list | None = None) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def usage_of(reply: Reply) -> dict:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    if reply.cost is not None:
        usage["cost"] = float(reply.cost)
    usage["is_byok"] = False
    usage["prompt_tokens_details"] = {
        "cached_tokens": reply.cached_tokens,
        "cache_write_tokens": reply.cache_write_tokens,
        "audio_tokens": reply.audio_tokens,
    }
    if reply.cache_write_tokens:
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": reply.cache_write_tokens - reply.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": reply.cache_write_1h_tokens,
        }
    usage["cost_details"] = {"upstream_inference_cost": None}
    usage["completion_tokens_details"] = {
        "reasoning_tokens": reply.reasoning_tokens,
        "image_tokens": reply.image_tokens,
    }
    if reply.web_search_requests:
        usage["server_tool_use"] = {"web_search_requests": reply.web_search_requests}
    return usage


def generation_stats(reply: Reply, gen_id: str, model: str, streamed: bool) -> dict:
    """GET /generation's `data` for a reply (OpenRouter's GenerationResponse; the fields the gateway reads
    and a few more)."""
    return {
        "id": gen_id,
        "model": model,
        "provider_name": reply.provider,
        "streamed": streamed,
        "cancelled": False,
        "finish_reason": _finish(reply),
        "created_at": "2025-12-01T00:00:00+00:00",
        "total_cost": float(reply.cost),
        "usage": float(reply.cost),
        "tokens_prompt": reply.prompt_tokens,
        "tokens_completion": reply.completion_tokens,
        "native_tokens_prompt": reply.prompt_tokens,
        "native_tokens_completion": reply.completion_tokens,
        "native_tokens_reasoning": reply.reasoning_tokens,
        "native_tokens_cached": reply.cached_tokens,
        "num_search_results": reply.web_search_requests,
        "is_byok": False,
    }


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _completion(reply: Reply, gen_id: str, model: str, chat: bool) -> dict:
    if chat:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text,
            "refusal": None,
            "reasoning": None,
        }
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
            message["content"] = ""
        choice = {
            "logprobs": None,
            "finish_reason": _finish(reply),
            "native_finish_reason": _finish(reply),
            "index": 0,
            "message": message,
        }
    else:
        choice = {"text": reply.text, "index": 0, "logprobs": None, "finish_reason": _finish(reply)}
    payload: dict[str, Any] = {
        "id": gen_id,
        "provider": reply.provider,
        "model": model,
        "object": "chat.completion" if chat else "text_completion",
        "created": CREATED,
        "choices": [choice],
    }
    if reply.usage:
        payload["usage"] = usage_of(reply)
    return payload


def split_text(text: str, pieces: int) -> list[str]:
    """The text in `pieces` nearly equal consecutive parts (fewer when the text is shorter)."""
    pieces = max(1, min(pieces, len(text) or 1))
    size, rest = divmod(len(text), pieces)
    parts, start = [], 0
    for index in range(pieces):
        end = start + size + (1 if index < rest else 0)
        parts.append(text[start:end])
        start = end
    return parts


def _stream_events(reply: Reply, gen_id: str, model: str, chat: bool):
    def event(choices: list, **more) -> bytes:
        chunk = {
            "id": gen_id,
            "provider": reply.provider,
            "model": model,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": CREATED,
            "choices": choices,
            **more,
        }
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    def choice(delta_or_text, finish=None) -> dict:
        if chat:
            return {
                "index": 0,
                "delta": delta_or_text,
                "finish_reason": finish,
                "native_finish_reason": finish,
                "logprobs": None,
            }
        return {"index": 0, "text": delta_or_text, "finish_reason": finish, "logprobs": None}

    yield b": OPENROUTER PROCESSING\n\n"
    if chat:
        yield event([choice({"role": "assistant", "content": ""})])
    if reply.tool_calls and chat:
        calls = [{"index": i, **call} for i, call in enumerate(reply.tool_calls)]
        yield event([choice({"role": "assistant", "content": None, "tool_calls": calls})])
    else:
        for number, part in enumerate(split_text(reply.text, reply.chunks)):
            yield event([choice({"role": "assistant", "content": part} if chat else part)])
            if number == 0 and reply.stream_error:
                yield event(
                    [choice({"content": ""} if chat else "", "error")],
                    error={"code": "server_error", "message": reply.stream_error},
                )
                yield b"data: [DONE]\n\n"
                return
    yield event([choice({"role": "assistant", "content": ""} if chat else "", _finish(reply))])
    if reply.usage:
        yield event([], usage=usage_of(reply))
    yield b"data: [DONE]\n\n"


def serve(fake: FakeOpenRouter):
    """Start the fake on a loopback port (tests.conftest.LiveASGIServer); returns the server."""
    from tests.conftest import LiveASGIServer

    server = LiveASGIServer(fake, lifespan="off").start()
    fake.url = f"{server.url}/api/v1"
    return server
