"""The gateway: a pure-ASGI, OpenRouter-compatible proxy under /api/v1/ (dashboard/asgi.py routes to it).

Hot path of a completion: the key from memory (GATEWAY_KEY_CACHE_SECONDS), the body parsed once with
orjson to check it and forwarded unchanged over one shared aiohttp session, the reply relayed as it
arrives (SSE event by event), then one dict queued for the ledger writer thread. No database work on the
request path except the first sight of a key (and the first budget check of a key in a period).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from django.conf import settings
from django.db import close_old_connections, connections

from usage.gateway import cache as cache_module
from usage.gateway import limits as limits_module
from usage.gateway.ledger import LedgerWriter
from usage.gateway.metrics import CONTENT_TYPE, Metrics, bearer_matches
from usage.gateway.routing import list_alias, plan
from usage.gateway.state import Catalogue, KeyInfo, Route, Routing, hash_secret, load_key
from usage.gateway.usage import computed_cost, spent_cost, usage_fields

log = logging.getLogger("tokenledger.gateway")

JSON = b"application/json"
COMPLETIONS = {"/api/v1/chat/completions": "chat/completions", "/api/v1/completions": "completions"}
NEGATIVE_CACHE_SECONDS = 2.0
# Ledger fields a cache hit copies from the request that filled the entry.
CACHED_FIELDS = ("served_model", "provider", "generation_id", "prompt_tokens", "completion_tokens")
CACHED_FIELDS += ("cached_tokens", "cache_write_tokens", "reasoning_tokens", "audio_tokens", "image_tokens")
CACHED_FIELDS += ("web_search_requests", "catalog_model_id")
RETRY_STATUSES = frozenset({429, *range(500, 600)})  # a next attempt may succeed where these failed


@dataclass(slots=True)
class Attempt:
    """One request to one upstream: a model (and for OpenRouter, its `models` fallbacks)."""

    route: Route
    model: str  # our id of the (first) model
    body: bytes
    models: tuple[str, ...] = ()  # the ids sent as OpenRouter's `models` array


class GatewayError(Exception):
    """A refusal answered in OpenAI/OpenRouter's error shape (and a `rejected` ledger row)."""

    def __init__(self, status: int, message: str, code: str = "", retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or str(status)
        self.retry_after = retry_after


def error_body(status: int, message: str, code: str = "", metadata: dict | None = None) -> bytes:
    error: dict[str, Any] = {"code": status, "message": message, "metadata": metadata or {}}
    if code:
        error["type"] = code
    return orjson.dumps({"error": error})


async def send_json(send, status: int, body: bytes, headers: list | None = None) -> None:
    start_headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if headers:
        start_headers.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


class Gateway:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.keys: dict[str, tuple[float, KeyInfo | None]] = {}
        self.catalogue = Catalogue()
        self.routing = Routing()
        self.rng = random.Random()
        self.catalogue_at = 0.0
        self.catalogue_task: asyncio.Task | None = None
        self.models_cache: tuple[float, list] | None = None
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")
        self.writer: LedgerWriter | None = None
        self.limits = None
        self.cache = None
        self.tasks: set[asyncio.Task] = set()
        self.metrics = Metrics()

    # ---- lifespan ----
    async def startup(self) -> None:
        self.referer = (settings.OPENROUTER_REFERER or "").encode()
        self.title = (settings.OPENROUTER_TITLE or "").encode()
        self.max_body = settings.GATEWAY_MAX_BODY_BYTES
        self.max_attempts = settings.GATEWAY_MAX_ATTEMPTS
        self.cache_ttl = settings.GATEWAY_CACHE_TTL_SECONDS
        self.key_seconds = settings.GATEWAY_KEY_CACHE_SECONDS
        self.catalogue_seconds = settings.GATEWAY_CATALOG_REFRESH_SECONDS
        self.keys = {}
        self.models_cache = None
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=10, sock_read=settings.OPENROUTER_TIMEOUT_SECONDS
            ),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )
        self.writer = LedgerWriter(Path(settings.DATA_DIR) / "ledger-spill")
        self.writer.start()
        redis_url = getattr(settings, "REDIS_URL", None)
        if redis_url:
            prefix = getattr(settings, "GATEWAY_REDIS_PREFIX", "tl:gw:")
            self.limits = limits_module.RedisLimits(redis_url, prefix, self.load_spend)
        else:
            from usage.gateway.db_limits import DatabaseLimits

            self.limits = DatabaseLimits(self.load_spend, self.in_db)
        prefix = getattr(settings, "GATEWAY_REDIS_PREFIX", "tl:gw:")
        self.cache = cache_module.make_cache(redis_url, prefix, self.in_db)
        try:
            await self.refresh_catalogue()
        except Exception:
            log.exception("catalogue not loaded at start; retrying on the next request")

    async def shutdown(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.limits is not None:
            await self.limits.close()
        if self.cache is not None:
            await self.cache.close()
        if self.writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)
        await self.in_db(connections.close_all)

    async def in_db(self, function, *args):
        """Run sync ORM code in the gateway's database thread."""

        def call():
            close_old_connections()
            return function(*args)

        return await asyncio.get_running_loop().run_in_executor(self.db, call)

    async def load_spend(self, key: KeyInfo, since: datetime | None) -> Decimal:
        from usage.selectors import key_spend_since

        await asyncio.get_running_loop().run_in_executor(None, self.writer.wait_flushed, 5.0)
        return await self.in_db(lambda: key_spend_since(api_key_id=key.id, since=since))

    async def refresh_catalogue(self) -> None:
        def load():
            return Catalogue.load(), Routing.load()

        self.catalogue, self.routing = await self.in_db(load)
        self.catalogue_at = time.monotonic()

    async def current_catalogue(self) -> Catalogue:
        age = time.monotonic() - self.catalogue_at
        if age >= self.catalogue_seconds:
            if self.catalogue_seconds <= 0 or not self.catalogue.ids:
                await self.refresh_catalogue()
            elif self.catalogue_task is None or self.catalogue_task.done():
                self.catalogue_task = asyncio.ensure_future(self.refresh_catalogue())
        return self.catalogue

    # ---- ASGI ----
    async def __call__(self, scope, receive, send) -> None:
        if self.session is None:  # served without an ASGI lifespan
            await self.startup()
        path = scope["path"]
        method = scope["method"]
        endpoint = COMPLETIONS.get(path)
        try:
            if endpoint is not None:
                if method != "POST":
                    raise GatewayError(405, f"Use POST for /api/v1/{endpoint}")
                await self.complete(endpoint, scope, receive, send)
            elif path in ("/api/v1/models", "/api/v1/key"):
                if method != "GET":
                    raise GatewayError(405, f"Use GET for {path}")
                key = await self.authenticate(scope, time.time())
                body = await (self.models(key) if path == "/api/v1/models" else self.key_info(key))
                await send_json(send, 200, body)
            elif path == "/metrics":
                await self.metrics_endpoint(scope, send)
            else:
                raise GatewayError(404, f"No such endpoint: {path}")
        except GatewayError as exc:
            await self.send_error(send, exc)
        except Exception:
            log.exception("gateway failure on %s", path)
            with contextlib.suppress(Exception):  # fails if the response had started
                await self.send_error(send, GatewayError(500, "Internal gateway error", "internal_error"))

    async def send_error(self, send, exc: GatewayError) -> None:
        headers = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else None
        await send_json(send, exc.status, error_body(exc.status, exc.message, exc.code), headers)

    async def metrics_endpoint(self, scope, send) -> None:
        """GET /metrics: Prometheus text for `Authorization: Bearer <METRICS_TOKEN>`; 404 if none is set."""
        token = settings.METRICS_TOKEN
        if not token:
            raise GatewayError(404, "No such endpoint: /metrics")
        if scope["method"] not in ("GET", "HEAD"):
            raise GatewayError(405, "Use GET for /metrics")
        if not bearer_matches(scope["headers"], token):
            raise GatewayError(401, "Missing or wrong metrics token", "invalid_token")
        writer = self.writer
        body = self.metrics.render(
            pending=writer.pending if writer else 0,
            written=writer.written if writer else 0,
            spilled=writer.spilled if writer else 0,
        )
        headers = [(b"content-type", CONTENT_TYPE), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def authenticate(self, scope, now_s: float, check: bool = True) -> KeyInfo:
        secret = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    secret = token.strip()
                    break
            elif name == b"x-api-key":
                secret = value.strip()
        if not secret:
            raise GatewayError(401, "Missing API key: send Authorization: Bearer <key>", "missing_key")
        digest = hash_secret(secret.decode("latin-1"))
        cached = self.keys.get(digest)
        monotonic = time.monotonic()
        if cached is None or monotonic - cached[0] > (
            self.key_seconds if cached[1] else NEGATIVE_CACHE_SECONDS
        ):
            text = secret.decode("latin-1")
            if text.startswith("tlpg_"):  # a playground token standing for one of its user's keys
                from usage.gateway.playground import load_playground_key

                key = await self.in_db(load_playground_key, text)
            else:
                key = await self.in_db(load_key, digest)
            if len(self.keys) > 50_000:
                self.keys.clear()
            self.keys[digest] = (monotonic, key)
        else:
            key = cached[1]
        if key is None:
            raise GatewayError(401, "Unknown API key", "invalid_key")
        if check:
            self.check_key(key, now_s)
        return key

    @staticmethod
    def check_key(key: KeyInfo, now_s: float) -> None:
        if key.revoked_at is not None:
            raise GatewayError(401, f"API key {key.prefix}… was revoked", "revoked_key")
        if key.expires_at is not None and key.expires_at.timestamp() <= now_s:
            raise GatewayError(401, f"API key {key.prefix}… has expired", "expired_key")

    # ---- completions ----
    async def complete(self, endpoint: str, scope, receive, send) -> None:
        started = time.monotonic()
        now = datetime.now(UTC)
        row: dict[str, Any] = {"created_at": now, "endpoint": endpoint, "api_key_id": None}
        key: KeyInfo | None = None
        ticket = None
        raw = None
        try:
            try:
                raw = await self.read_body(scope, receive)
                key = await self.authenticate(scope, now.timestamp(), check=False)
                row["api_key_id"] = key.id
                self.check_key(key, now.timestamp())
                body = self.check_body(raw, endpoint, row)
                catalogue = await self.current_catalogue()
                attempts = self.route_request(raw, body, endpoint, key, catalogue, self.routing, row)
                cache_id = None
                if cache_module.deterministic(body) and cache_module.cache_requested(
                    scope["headers"], key.cache_responses
                ):
                    cache_id = cache_module.cache_key(attempts[0].route.name, endpoint, body)
                    cached = await self.cache.get(cache_id)
                    if cached is not None:
                        await cache_module.replay(send, cached, [])
                        self.cache_hit(cached, row)
                        return
                if key.limited:
                    try:
                        refusal, ticket = await self.limits.admit(key, now)
                    except Exception:
                        log.exception("limits unavailable")
                        raise GatewayError(
                            503, "Limits store unavailable, try again", "limits_unavailable"
                        ) from None
                    if refusal is not None:
                        raise GatewayError(refusal.status, refusal.message, refusal.code, refusal.retry_after)
            except GatewayError as exc:
                if raw is not None and "requested_model" not in row:
                    with contextlib.suppress(GatewayError):  # what was asked, for the row
                        self.check_body(raw, endpoint, row)
                row.update(http_status=exc.status, status="rejected", error_code=exc.code)
                row["computed_cost"] = Decimal(0)
                row["error_message"] = exc.message
                await self.send_error(send, exc)
                return
            capture = cache_module.Capture() if cache_id is not None else None
            await self.forward(endpoint, scope, receive, send, attempts, row, catalogue, started, capture)
            if capture is not None and row["status"] == "ok" and row["http_status"] == 200:
                self.cache_fill(cache_id, capture, row)
        finally:
            row["latency_ms"] = int((time.monotonic() - started) * 1000)
            if "status" not in row:  # an unexpected failure (answered 500 by __call__): still a row
                row.update(http_status=500, status="error", error_code="internal_error")
            self.finish(row, key, ticket, now)

    @staticmethod
    def cache_hit(cached: cache_module.CachedReply, row: dict) -> None:
        """The ledger row of a request answered from the cache: cost 0, what it saved in meta."""
        row.update({name: cached.row[name] for name in CACHED_FIELDS if name in cached.row})
        row.update(http_status=cached.status, status="cached", computed_cost=Decimal(0))
        meta = row.setdefault("meta", {})
        meta.update(cache="hit", saved_cost=cached.row.get("cost"))

    def cache_fill(self, cache_id: str, capture: cache_module.Capture, row: dict) -> None:
        """Store a complete successful reply (in the background: the client has it already)."""
        if capture.overflow:
            return
        cost = spent_cost(row)
        fields = {name: row[name] for name in CACHED_FIELDS if row.get(name) is not None}
        fields["cost"] = None if cost is None else str(cost)
        content_type = "text/event-stream" if row.get("stream") else "application/json"
        reply = cache_module.CachedReply(200, content_type, capture.data, fields)
        task = asyncio.ensure_future(self.cache.put(cache_id, reply, self.cache_ttl))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def read_body(self, scope, receive) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    raise GatewayError(400, "Bad Content-Length header")
                if int(value) > self.max_body:
                    raise GatewayError(413, f"Request body over {self.max_body} bytes", "body_too_large")
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise GatewayError(499, "The client went away", "client_closed")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body:
                    raise GatewayError(413, f"Request body over {self.max_body} bytes", "body_too_large")
                chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def check_body(self, raw: bytes, endpoint: str, row: dict) -> dict:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise GatewayError(400, "The request body is not valid JSON", "invalid_json") from None
        if not isinstance(body, dict):
            raise GatewayError(400, "The request body must be a JSON object", "invalid_request")
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
            row["requested_model"] = ",".join(model)[:200]
        elif model is not None and (not isinstance(model, str) or not model):
            raise GatewayError(400, "`model` must be a model id string", "invalid_request")
        else:
            row["requested_model"] = (model or models[0])[:200]
        stream = body.get("stream", False)
        if stream is not None and not isinstance(stream, bool):
            raise GatewayError(400, "`stream` must be true or false", "invalid_request")
        row["stream"] = bool(stream)
        user = body.get("user")
        if user is not None:
            if not isinstance(user, str):
                raise GatewayError(400, "`user` must be a string", "invalid_request")
            row["user_tag"] = user[:200]
        if endpoint == "chat/completions":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise GatewayError(400, "`messages` must be a non-empty array", "invalid_request")
            if not all(isinstance(m, dict) for m in messages):
                raise GatewayError(400, "Each message must be an object", "invalid_request")
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, (str, list)):
                raise GatewayError(400, "`prompt` must be a string or an array", "invalid_request")
        return body

    def check_models(self, wanted: list[str], key: KeyInfo, catalogue: Catalogue, routing: Routing) -> None:
        for model_id in wanted:
            route = routing.route_for(model_id)
            known = route is not None and not route.openrouter  # another upstream's ids are its own
            if len(model_id) > 200 or not (known or catalogue.knows(model_id)):
                raise GatewayError(400, f"{model_id[:200]} is not a model in the catalogue", "unknown_model")
            if not key.allows(model_id):
                raise GatewayError(403, f"This key may not use {model_id}", "model_not_allowed")

    def route_request(
        self, raw: bytes, body: dict, endpoint: str, key: KeyInfo, catalogue: Catalogue, routing, row
    ) -> list[Attempt]:
        """The attempts for this request, in order (docs/gateway.md, Routing); raises GatewayError."""
        model = body.get("model")
        if isinstance(model, str) and model in routing.aliases:
            spec = routing.aliases[model]
        elif isinstance(model, list):
            self.check_models(model, key, catalogue, routing)
            spec = list_alias(model)
        else:
            wanted = [model] if isinstance(model, str) else []
            wanted.extend(body.get("models") or ())
            self.check_models(wanted, key, catalogue, routing)
            route = routing.route_for(wanted[0])
            if route is None:
                raise GatewayError(502, f"No enabled upstream serves {wanted[0]}", "no_upstream")
            if route.openrouter:
                return [Attempt(route, wanted[0], raw)]
            row["meta"] = {"upstream": route.name}
            sent = route.upstream_model(wanted[0])
            return [Attempt(route, wanted[0], raw if sent == wanted[0] else with_model(raw, body, sent))]
        return self.alias_attempts(body, endpoint, key, catalogue, routing, spec, row)

    def alias_attempts(self, body, endpoint, key, catalogue, routing, spec, row) -> list[Attempt]:
        whole = not spec.name or key.allows(spec.name)  # a key allowed the alias may use all its members
        members, skipped, routes = [], [], {}
        for member in spec.members:
            route = routes[member.model] = routing.route_for(member.model)
            if not (whole or key.allows(member.model)):
                skipped.append({"model": member.model, "reason": "not allowed for this key"})
            elif route is None:
                skipped.append({"model": member.model, "reason": "no enabled upstream"})
            elif route.openrouter and not catalogue.knows(member.model):
                skipped.append({"model": member.model, "reason": "not in the catalogue"})
            else:
                members.append(member)
        if not members and skipped and all(s["reason"] == "not allowed for this key" for s in skipped):
            raise GatewayError(403, f"This key may not use {spec.name}", "model_not_allowed")

        def price_for(model_id: str):
            price = catalogue.price_for(model_id)
            return price.prices if price is not None else None

        chosen = plan(
            replace(spec, members=tuple(members)),
            body=body,
            endpoint=endpoint,
            price_for=price_for,
            latency_p50=routing.latency_p50,
            rng=self.rng,
        )
        skipped.extend(chosen.skipped)
        meta: dict[str, Any] = {"alias": spec.name or None, "strategy": chosen.strategy}
        if skipped:
            meta["skipped"] = skipped
        row["meta"] = meta
        if not chosen.models:
            reasons = "; ".join(f"{s['model']}: {s['reason']}" for s in skipped)
            name = spec.name or "the list"
            raise GatewayError(
                400, f"No model of {name} can serve this request ({reasons})", "no_eligible_model"
            )
        attempts: list[Attempt] = []
        for model_id in chosen.models:  # consecutive OpenRouter models: one attempt with a `models` array
            route = routes[model_id]
            if route.openrouter and attempts and attempts[-1].route is route:
                attempts[-1].models += (model_id,)
            else:
                attempts.append(Attempt(route, model_id, b"", (model_id,) if route.openrouter else ()))
        del attempts[self.max_attempts :]
        for attempt in attempts:
            outgoing = {**body, "model": attempt.route.upstream_model(attempt.model)}
            outgoing.pop("models", None)
            if len(attempt.models) > 1:
                outgoing["models"] = list(attempt.models)
            attempt.body = orjson.dumps(outgoing)
        return attempts

    def upstream_headers(self, scope, route: Route) -> dict[str, str]:
        if not route.openrouter:
            if not route.key:
                return {"Content-Type": "application/json"}
            return {"Authorization": f"Bearer {route.key}", "Content-Type": "application/json"}
        referer, title = self.referer, self.title
        for name, value in scope["headers"]:
            if name == b"http-referer" or name == b"referer":
                referer = value
            elif name == b"x-title":
                title = value
        headers = {"Authorization": f"Bearer {route.key}", "Content-Type": "application/json"}
        if referer:
            headers["HTTP-Referer"] = referer.decode("latin-1")
        if title:
            headers["X-Title"] = title.decode("latin-1")
        return headers

    async def forward(
        self, endpoint, scope, receive, send, attempts, row, catalogue, started, capture
    ) -> None:
        """Try the attempts in turn: the next one on 429 / 5xx / no answer, never once a reply has started."""
        response = None
        record: list[dict] = []
        try:
            for index, attempt in enumerate(attempts):
                last = index == len(attempts) - 1
                route = attempt.route
                began = time.monotonic()
                response, error = await self.post(endpoint, scope, attempt)
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
                row["upstream_latency_ms"] = int((time.monotonic() - started) * 1000)
                content_type = response.headers.get("Content-Type", "")
                if response.status == 200 and content_type.startswith("text/event-stream"):
                    await self.relay_stream(response, receive, send, row, started, route, capture)
                else:
                    await self.relay_json(response, send, row, route, capture)
                if not route.openrouter:
                    row["served_model"] = attempt.model[:200]  # our id, priced in the catalogue
                    row["provider"] = row.get("provider") or route.name
                break
        except GatewayError as exc:
            row.update(http_status=exc.status, status="error", error_code=exc.code, error_message=exc.message)
            await self.send_error(send, exc)
        finally:
            if response is not None:
                response.release()
            if "meta" in row or len(record) > 1:
                meta = row.setdefault("meta", {})
                meta["upstream"] = record[-1]["upstream"]
                meta["attempts"] = record
        self.add_cost(row, catalogue)

    async def post(self, endpoint: str, scope, attempt: Attempt):
        """(response, None) once the upstream answered with headers, or (None, GatewayError)."""
        route = attempt.route
        if route.missing_key:
            message = f"{route.label} has no API key: the environment variable {route.key_env} is not set"
            return None, GatewayError(502, message, "upstream_key_missing")
        try:
            response = await self.session.post(
                f"{route.url}/{endpoint}", data=attempt.body, headers=self.upstream_headers(scope, route)
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return None, GatewayError(504, f"{route.label} did not answer in time", "upstream_timeout")
        except (aiohttp.ClientError, OSError) as exc:
            message = f"{route.label} unreachable: {type(exc).__name__}"
            return None, GatewayError(502, message, "upstream_unreachable")
        return response, None

    async def relay_json(self, response, send, row, route: Route, capture=None) -> None:
        try:
            data = await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise GatewayError(504, f"{route.label} did not answer in time", "upstream_timeout") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise GatewayError(
                502, f"{route.label}'s reply broke off: {type(exc).__name__}", "upstream_error"
            ) from None
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            payload = None
        status = response.status
        if not isinstance(payload, dict):
            raise GatewayError(
                502, f"{route.label} sent an unreadable reply (HTTP {status})", "upstream_garbage"
            )
        if status >= 400 or "error" in payload:
            error = payload.get("error")
            error = error if isinstance(error, dict) else {}
            if status < 400:
                status = (
                    error.get("code") if isinstance(error.get("code"), int) and error["code"] >= 400 else 502
                )
                data = error_body(
                    status, str(error.get("message") or f"{route.label} error"), "upstream_error"
                )
            row.update(http_status=status, status="error", error_code=str(error.get("code", status))[:60])
            row["error_message"] = str(error.get("message", ""))[:2000]
        else:
            row.update(http_status=status, status="ok")
            self.read_reply(payload, row)
            row.update(usage_fields(payload.get("usage")))
        headers = [(b"content-type", JSON), (b"content-length", str(len(data)).encode())]
        if capture is not None:
            capture.add(data)
            headers.append((cache_module.HEADER, cache_module.MISS))
        generation = response.headers.get("X-Generation-Id") or row.get("generation_id")
        if generation:
            headers.append((b"x-generation-id", generation.encode("latin-1")))
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            headers.append((b"retry-after", retry_after.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    @staticmethod
    def read_reply(payload: dict, row: dict) -> None:
        if isinstance(payload.get("id"), str):
            row["generation_id"] = payload["id"][:200]
        if isinstance(payload.get("model"), str):
            row["served_model"] = payload["model"][:200]
        if isinstance(payload.get("provider"), str):
            row["provider"] = payload["provider"][:100]

    async def relay_stream(self, response, receive, send, row, started, route: Route, capture=None) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        if capture is not None:
            headers.append((cache_module.HEADER, cache_module.MISS))
        generation = response.headers.get("X-Generation-Id")
        if generation:
            headers.append((b"x-generation-id", generation.encode("latin-1")))
            row["generation_id"] = generation[:200]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        row.update(http_status=200, status="ok")
        task = asyncio.current_task()
        state = {"gone": False, "done": False}

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if not state["done"]:
                        state["gone"] = True
                        task.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        pending = b""
        events = 0
        usage = None
        try:
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if capture is not None:
                    capture.add(chunk)
                data = pending + chunk if pending else chunk
                parts = data.split(b"\n\n")
                pending = parts.pop()
                if len(pending) > 1_048_576:  # not SSE: relay it, stop looking for events
                    pending = b""
                for event in parts:
                    if not event.startswith(b"data: {"):
                        continue
                    events += 1
                    if events == 1 or "ttft_ms" not in row:
                        parsed = _event_json(event)
                        if events == 1:
                            self.read_reply(parsed, row)
                        if _has_output(parsed):
                            row["ttft_ms"] = int((time.monotonic() - started) * 1000)
                    if b'"usage"' in event or b'"error"' in event:
                        parsed = _event_json(event)
                        if isinstance(parsed.get("usage"), dict):
                            usage = parsed["usage"]
                            self.read_reply(parsed, row)
                        error = parsed.get("error")
                        if isinstance(error, dict):
                            row.update(status="error", error_code=str(error.get("code", "stream_error"))[:60])
                            row["error_message"] = str(error.get("message", ""))[:2000]
            state["done"] = True
            await send({"type": "http.response.body", "body": b""})
        except asyncio.CancelledError:
            if not state["gone"]:
                raise
            response.close()
            row.update(http_status=499, status="cancelled", error_code="client_closed")
            row["error_message"] = "The client went away mid-stream"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            state["done"] = True
            row.update(status="error", error_code="upstream_stream_broken")
            row["error_message"] = f"{route.label}'s stream broke off: {type(exc).__name__}"
            await send({"type": "http.response.body", "body": b""})
        finally:
            state["done"] = True
            watcher.cancel()
        if usage is not None:
            row.update(usage_fields(usage))
        elif events:
            # No final usage (cancelled or broken): count the content chunks seen as completion tokens.
            row["completion_tokens"] = max(events - 1, 0)
            row["meta"] = {"usage": "estimated from the chunks seen"}

    def add_cost(self, row: dict, catalogue: Catalogue) -> None:
        model_id = row.get("served_model") or row.get("requested_model") or ""
        price = catalogue.price_for(model_id) or catalogue.price_for(row.get("requested_model") or "")
        if price is None:
            return
        row["catalog_model_id"] = price.catalog_model_id
        if price.price_version_id is None:
            return
        if price.valid_from is not None and row["created_at"] < price.valid_from:
            row["_reprice"] = True  # repriced after the request began: the writer looks up the old price
            return
        row["price_version_id"] = price.price_version_id
        if row.get("prompt_tokens") or row.get("completion_tokens"):
            row["computed_cost"] = computed_cost(price.prices, row)
        else:
            row["computed_cost"] = Decimal(0)

    def finish(self, row: dict, key: KeyInfo | None, ticket, now: datetime) -> None:
        try:
            self.metrics.observe(row, key.prefix if key is not None else "")
        except Exception:  # metrics never break a request
            log.exception("metrics not updated")
        if self.writer is not None:
            self.writer.record(row)
        if ticket is not None:
            cost = spent_cost(row)
            tokens = row.get("prompt_tokens", 0) + row.get("completion_tokens", 0)
            task = asyncio.ensure_future(self.settle(key, ticket, cost, tokens, now))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def settle(self, key, ticket, cost, tokens, now) -> None:
        try:
            await self.limits.settle(key, ticket, cost, tokens, now)
        except Exception:
            log.exception("limits not settled for key %s", key.prefix)

    # ---- GET endpoints ----
    async def models(self, key: KeyInfo) -> bytes:
        await self.current_catalogue()  # the aliases too
        now = time.monotonic()
        if self.models_cache is None or now - self.models_cache[0] > max(self.catalogue_seconds, 0):
            from catalog.models import CatalogModel

            def load():
                return list(
                    CatalogModel.objects.filter(retired_at__isnull=True)
                    .order_by("-created", "model_id")
                    .values_list("model_id", "raw")
                )

            self.models_cache = (now, await self.in_db(load))
        data = [raw for model_id, raw in self.models_cache[1] if key.allows(model_id)]
        for name, alias in sorted(self.routing.aliases.items()):
            members = [member.model for member in alias.members]
            if key.allows(name) or any(key.allows(model_id) for model_id in members):
                data.append(
                    {
                        "id": name,
                        "name": name,
                        "object": "model",
                        "created": 0,
                        "owned_by": "tokenledger",
                        "description": f"Alias ({alias.strategy}) for {', '.join(members)}",
                        "tokenledger_alias": {"strategy": alias.strategy, "members": members},
                    }
                )
        return orjson.dumps({"data": data})

    async def key_info(self, key: KeyInfo) -> bytes:
        from usage.selectors import key_spend_since

        since = limits_module.period_start(key.budget_period, datetime.now(UTC))
        await asyncio.get_running_loop().run_in_executor(None, self.writer.wait_flushed, 5.0)
        spent = await self.in_db(lambda: key_spend_since(api_key_id=key.id, since=since))
        limit = key.budget_usd
        data = {
            "label": key.name,
            "prefix": key.prefix,
            "usage": float(spent),
            "limit": float(limit) if limit is not None else None,
            "limit_remaining": float(max(limit - spent, Decimal(0))) if limit is not None else None,
            "limit_reset": None if key.budget_period == "none" else key.budget_period,
            "is_free_tier": False,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            "rate_limit": {"requests": key.rpm_limit, "tokens": key.tpm_limit, "interval": "1m"},
            "allowed_models": list(key.allowed_models) or None,
        }
        return orjson.dumps({"data": data})


async def _error_text(response) -> str:
    """The message of a failed attempt's error reply (for the ledger's attempt list), briefly."""
    try:
        data = await asyncio.wait_for(response.content.read(65536), 5)
        error = orjson.loads(data).get("error")
        return str(error.get("message", ""))[:300] if isinstance(error, dict) else f"HTTP {response.status}"
    except Exception:
        return f"HTTP {response.status}"


_MODEL_VALUE = rb'("model"\s*:\s*)'


def with_model(raw: bytes, body: dict, model: str) -> bytes:
    """`raw` with its "model" value replaced, every other byte unchanged (re-encoded only if it must be)."""
    if not isinstance(body.get("model"), str):  # only `models` was sent
        return orjson.dumps({**body, "model": model})
    pattern = re.compile(_MODEL_VALUE + re.escape(orjson.dumps(body["model"])))
    replaced, count = pattern.subn(lambda match: match.group(1) + orjson.dumps(model), raw, count=1)
    wanted = {**body, "model": model}
    if count and orjson.loads(replaced) == wanted:
        return replaced
    return orjson.dumps(wanted)


def _has_output(chunk: dict) -> bool:
    """Does this stream chunk carry output (content, text, reasoning or a tool call)?"""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    delta = choices[0].get("delta")
    if isinstance(delta, dict):
        return bool(delta.get("content") or delta.get("reasoning") or delta.get("tool_calls"))
    return bool(choices[0].get("text"))


def _event_json(event: bytes) -> dict:
    try:
        parsed = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


gateway = Gateway()
