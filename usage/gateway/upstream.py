"""Upstream I/O: one shared HTTP client (http1.py), a request per attempt (the next one on 429 / 5xx / a
redirect / no answer, never once a reply has started), and the relay of a JSON reply (streams: sse.py).

Upstreams are asked for uncompressed replies; a gzip or deflate reply that comes anyway is decoded (the
client gets it decoded, and its usage is counted). Redirects are never followed: a 3xx is the upstream's
failure, a 502 naming it.
"""

from __future__ import annotations

import asyncio
import time
import zlib

import orjson

from usage.gateway import cache, estimate
from usage.gateway.client_watch import ClientWatch
from usage.gateway.http1 import Client, HTTPError
from usage.gateway.plan import Attempt, Plan
from usage.gateway.responses import JSON, GatewayError, send_body, send_error
from usage.gateway.row import LedgerRow
from usage.gateway.snapshot import Route
from usage.gateway.sse import relay_stream

RETRY_STATUSES = frozenset({429, *range(500, 600)})  # a next attempt may succeed where these failed
MAX_DECODED = 64 * 1024 * 1024  # largest decompressed reply: a compressed bomb is the upstream's failure
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Decoder:
    """Streaming gzip / deflate decoding (deflate with or without its zlib header), capped at MAX_DECODED."""

    def __init__(self, encoding: str, label: str) -> None:
        self.label = label
        self.raw_deflate = encoding == "deflate"
        self.inflate = zlib.decompressobj(ENCODINGS[encoding])
        self.size = 0

    def decode(self, data: bytes) -> bytes:
        try:
            out = self.inflate.decompress(data, MAX_DECODED - self.size + 1)
        except zlib.error:
            if not (self.raw_deflate and self.size == 0):
                raise GatewayError(
                    502, f"{self.label} sent a corrupt compressed reply", "upstream_garbage"
                ) from None
            self.raw_deflate = False  # deflate without the zlib header, as some servers send it
            self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self.inflate.decompress(data, MAX_DECODED + 1)
        self.size += len(out)
        if self.size > MAX_DECODED or self.inflate.unconsumed_tail:
            raise GatewayError(502, f"{self.label} sent a reply over {MAX_DECODED} bytes", "upstream_garbage")
        return out


def decoder_for(response, route: Route) -> Decoder | None:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in ENCODINGS:
        raise GatewayError(
            502, f"{route.label} sent a reply in an encoding we cannot read: {encoding}", "upstream_garbage"
        )
    return Decoder(encoding, route.label)


class Upstreams:
    def __init__(self, client: Client, referer: bytes, title: bytes) -> None:
        self.client = client
        self.referer = referer  # attribution headers when a client sends none
        self.title = title
        self.journal = None  # journal.Journal: told a stream's generation id (set by the gateway's start-up)

    def headers(self, scope, route: Route, passed: tuple[bytes, ...] = ()) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if route.key:
            headers["Authorization"] = f"Bearer {route.key}"
        if passed:  # the endpoint's own headers (anthropic-version, anthropic-beta), to every upstream
            for name, value in scope["headers"]:
                if name in passed:
                    headers[name.decode("latin-1")] = value.decode("latin-1")
        if not route.openrouter:
            return headers
        referer, title = self.referer, self.title
        for name, value in scope["headers"]:
            if name == b"http-referer" or name == b"referer":
                referer = value
            elif name == b"x-title":
                title = value
        if referer:
            headers["HTTP-Referer"] = referer.decode("latin-1")
        if title:
            headers["X-Title"] = title.decode("latin-1")
        return headers

    async def post(self, endpoint: str, scope, attempt: Attempt, spec=None):
        """(response, None) once the upstream answered with headers, or (None, GatewayError)."""
        route = attempt.route
        if route.missing_key:
            message = f"{route.label} has no API key: the environment variable {route.key_env} is not set"
            return None, GatewayError(502, message, "upstream_key_missing")
        url = f"{route.url}/{endpoint}"
        passed = ()
        if spec is not None:
            passed = spec.passed_headers
            if spec.query and scope.get("query_string"):  # Messages' ?beta=true
                url = f"{url}?{scope['query_string'].decode('latin-1')}"
        try:
            response = await self.client.post(url, attempt.body, self.headers(scope, route, passed))
        except TimeoutError:
            return None, GatewayError(504, f"{route.label} did not answer in time", "upstream_timeout")
        except (HTTPError, OSError) as exc:
            return None, GatewayError(502, f"{route.label} unreachable: {exc}", "upstream_unreachable")
        if 300 <= response.status < 400:
            response.release()
            message = (
                f"{route.label} answered with a redirect (HTTP {response.status}), which is not followed"
            )
            return None, GatewayError(502, message, "upstream_redirect")
        return response, None

    async def forward(
        self, request, plan: Plan, scope, receive, send, row: LedgerRow, started: float, capture
    ):
        """Try the plan's attempts in turn and relay the reply of the one that answers; the row says how.

        A client that goes away before the reply is relayed (waiting for the upstream's headers, or for a
        whole JSON reply) cancels the upstream request at once: its row is `cancelled`."""
        attempts = plan.attempts
        response = None
        record: list[dict] = []
        task = asyncio.current_task()
        gone = asyncio.Event()
        relayed = False  # once the reply is relayed, a client leaving cancels nothing

        def left() -> None:
            if not relayed:
                gone.set()
                task.cancel()

        watcher = ClientWatch(receive, left)
        try:
            for index, attempt in enumerate(attempts):
                last = index == len(attempts) - 1
                route = attempt.route
                began = time.monotonic()
                response, error = await self.post(request.endpoint, scope, attempt, request.spec)
                ms = int((time.monotonic() - began) * 1000)
                entry = {"upstream": route.name, "model": attempt.model}
                if len(attempt.models) > 1:
                    entry["models"] = list(attempt.models)
                record.append(entry)
                if error is None and response.status in RETRY_STATUSES and not last:
                    entry.update(status=response.status, error=await _error_text(response), ms=ms)
                    response.release()
                    response = None
                    continue
                if error is not None:
                    entry.update(status=error.status, error=error.message, ms=ms)
                    if last:
                        raise error
                    continue
                entry.update(status=response.status, ms=ms)
                row.upstream_latency_ms = int((time.monotonic() - started) * 1000)
                decoder = decoder_for(response, route)
                if response.status == 200 and response.headers.get("content-type", "").startswith(
                    "text/event-stream"
                ):
                    reader = request.spec.reading
                    watcher.cancel()  # the stream's relay watches the client itself (no await: no yield here)
                    named = self.journal.generation if route.openrouter and self.journal is not None else None
                    await relay_stream(
                        response, receive, send, row, started, route, capture, decoder, reader, named
                    )
                else:
                    await relay_json(response, send, row, route, capture, decoder, request.spec)
                    relayed = True
                if not route.openrouter:
                    row.served_model = attempt.model[:200]  # our id, priced in the catalogue
                    row.provider = row.provider or route.name
                break
        except GatewayError as exc:
            row.fail("error", exc.status, exc.code, exc.message)
            await send_error(send, exc, request.spec.error_body)
        except asyncio.CancelledError:
            if not gone.is_set():
                raise
            if response is not None:
                response.close()  # the upstream connection is dropped, not returned to the pool
                response = None
            row.fail("cancelled", 499, "client_closed", "The client went away before the reply")
        finally:
            watcher.cancel()
            if response is not None:
                response.release()
            if record and estimate.unpaid(row):  # sent upstream, but what it used is unknown
                estimate.estimate(row, request.body, request.endpoint, openrouter=route.openrouter)
            if plan.meta or len(record) > 1:
                row.meta.update(plan.meta)
                row.meta["upstream"] = record[-1]["upstream"]
                row.meta["attempts"] = record


async def _error_text(response) -> str:
    """The message of a failed attempt's error reply (for the ledger's attempt list), briefly."""
    try:
        data = await asyncio.wait_for(response.read(65536), 5)
        error = orjson.loads(data).get("error")
        return str(error.get("message", ""))[:300] if isinstance(error, dict) else f"HTTP {response.status}"
    except Exception:
        return f"HTTP {response.status}"


async def relay_json(
    response, send, row: LedgerRow, route: Route, capture, decoder: Decoder | None, spec
) -> None:
    try:
        data = await response.read()
    except TimeoutError:
        raise GatewayError(504, f"{route.label} did not answer in time", "upstream_timeout") from None
    except (HTTPError, OSError) as exc:
        raise GatewayError(502, f"{route.label}'s reply broke off: {exc}", "upstream_error") from None
    if decoder is not None:
        data = decoder.decode(data)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        payload = None
    status = response.status
    if not isinstance(payload, dict):
        raise GatewayError(502, f"{route.label} sent an unreadable reply (HTTP {status})", "upstream_garbage")
    if status >= 400 or payload.get("error") is not None:  # (a Responses object has "error": null)
        error = payload.get("error")
        error = error if isinstance(error, dict) else {}
        if status < 400:
            code = error.get("code")
            status = (
                code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600 else 502
            )
            message = str(error.get("message") or f"{route.label} error")
            data = spec.error_body(status, message, "upstream_error")
        code = error.get("code", error.get("type", status))  # Anthropic's errors have a type, no code
        row.fail("error", status, str(code), str(error.get("message", "")))
    else:
        row.status, row.http_status = "ok", status
        row.take_reply(payload)
        spec.take_usage(row, payload.get("usage"))
    headers = []
    if capture is not None:
        capture.add(data)
        if capture.cached:
            headers.append((cache.HEADER, cache.MISS))
    generation = response.headers.get("x-generation-id") or row.generation_id
    if generation:
        headers.append((b"x-generation-id", generation.encode("latin-1")))
    retry_after = response.headers.get("retry-after")
    if retry_after:
        headers.append((b"retry-after", retry_after.encode("latin-1")))
    await send_body(send, status, data, JSON, headers)
