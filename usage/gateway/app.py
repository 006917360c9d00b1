"""The gateway: a pure-ASGI, OpenRouter-compatible proxy under /api/v1/ (dashboard/asgi.py routes to it).

Its rooms, one job each: this module (start-up, shut-down, the endpoints and the request pipeline);
auth.py (who is asking); hosts.py (the Host check); endpoints.py (each inference API: its body, usage,
stream and error shape, with usage_shapes.py and streams.py); request.py (the body and its checks); plan.py
and strategies.py (where a request goes); upstream.py, sse.py and http1.py (upstream I/O); responses.py
(what is sent back); row.py (the ledger row) and writer.py (its writer); journal.py (what a killed process
leaves); limits.py, limits_redis.py, limits_db.py and resp.py (rates and budgets); cache.py (the response
cache);
metrics.py (/metrics); info.py, lookup.py (GET /models, /key, /generation); snapshot.py, freshness.py
(admin changes applied from the next request) and store.py, its only door to the database.

The hot path of a completion does no database work: the key from memory, the body parsed once and
forwarded unchanged over a kept-alive upstream connection (http1.py), the reply relayed as it arrives, then
one LedgerRow piped to the ledger writer's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from usage.budget_counters import reconcile_hold
from usage.gateway import bodies, cache, http1, info, journal, lookup
from usage.gateway.auth import KeyInfo, Keys, bearer, bearer_matches
from usage.gateway.endpoints import ENDPOINTS, Endpoint
from usage.gateway.freshness import make_freshness
from usage.gateway.hosts import Hosts
from usage.gateway.limits_db import DatabaseLimits
from usage.gateway.limits_redis import RedisLimits
from usage.gateway.metrics import CONTENT_TYPE, Metrics
from usage.gateway.plan import native_model, plan_request
from usage.gateway.request import BodyLimits, asked, check, decode, read_body
from usage.gateway.responses import GatewayError, LastHeld, error_body, send_body, send_error
from usage.gateway.row import ESTIMATED, LedgerRow
from usage.gateway.snapshot import Snapshot
from usage.gateway.store import Store, database_url
from usage.gateway.upstream import Upstreams
from usage.gateway.worst_case import FREE, worst_of
from usage.gateway.writer import LedgerWriter
from usage.ledger_files import dead_letter_rows, ledger_spill_dir
from usage.periods import period_start

log = logging.getLogger("tokenledger.gateway")

KEYLESS = frozenset({"missing_key", "invalid_key"})  # refusals counted, not recorded: no key, no row


def request_id() -> str:
    """Our id of a request: 32 hex digits, the first 12 its time in milliseconds, then 80 random bits.
    Ids in time order go into the ledger's unique index at its end, as the rows' times do: random ones
    (uuid4) landed all over it, one page written per row on each batch (SQLite and PostgreSQL alike)."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class Gateway:
    def __init__(self) -> None:
        self.started = False
        self.starting = asyncio.Lock()
        self.metrics = Metrics()
        self.tasks: set[asyncio.Task] = set()  # background work (settles, cache fills) awaited at shut-down
        self.rng = random.Random()
        self.snapshot = Snapshot()
        self.snapshot_at = 0.0
        self.refreshing: asyncio.Task | None = None
        self.listing: tuple[float, list, bytes] | None = None  # when, the listing, its public body
        self.hosts = Hosts()
        self.writer: LedgerWriter | None = None
        self.journal: journal.Journal | None = None

    # ---- lifespan ----
    async def startup(self) -> None:
        self.max_attempts = settings.GATEWAY_MAX_ATTEMPTS
        self.cache_ttl = settings.GATEWAY_CACHE_TTL_SECONDS
        self.refresh_seconds = settings.GATEWAY_CATALOG_REFRESH_SECONDS
        self.max_request_cost = settings.GATEWAY_MAX_REQUEST_COST
        self.capture_limit = settings.CAPTURE_MAX_BYTES * bodies.RAW_FACTOR
        self.context_multiple = settings.GATEWAY_MAX_CONTEXT_MULTIPLE
        self.reservation_time = timedelta(seconds=settings.GATEWAY_RESERVATION_SECONDS)
        self.reconcile_hold = reconcile_hold()
        self.body_limits = BodyLimits(
            settings.GATEWAY_MAX_BODY_BYTES,
            settings.GATEWAY_BODY_IDLE_SECONDS,
            settings.GATEWAY_BODY_TIMEOUT_SECONDS,
        )
        self.listing = None
        self.hosts = Hosts()
        self.store = Store()
        self.keys = Keys(self.store.key, self.store.playground_key, settings.GATEWAY_KEY_CACHE_SECONDS)
        client = http1.Client(connect_timeout=10, read_timeout=settings.OPENROUTER_TIMEOUT_SECONDS)
        referer, title = settings.OPENROUTER_REFERER or "", settings.OPENROUTER_TITLE or ""
        self.upstreams = Upstreams(client, referer.encode(), title.encode())
        redis_url = settings.REDIS_URL
        prefix = settings.GATEWAY_REDIS_PREFIX
        if redis_url:
            self.limits = RedisLimits(redis_url, prefix, self.load_spend)
        else:
            self.limits = DatabaseLimits(self.store, self.load_spend)
        # The journal (journal.py): orphans of dead processes replayed before serving, then this process's.
        folder = journal.journal_dir()
        await journal.replay(
            folder,
            self.store,
            max_cost=self.max_request_cost,
            context_multiple=self.context_multiple,
            settle=lambda row, ticket: journal.settle_budget(self.limits, row, ticket, self.reconcile_hold),
        )
        self.writer = LedgerWriter(
            ledger_spill_dir(), database_url(), capture_limit=settings.CAPTURE_MAX_BYTES
        )
        self.journal = journal.Journal(
            folder, queued=lambda: self.writer.queued, done=lambda: self.writer.done
        )
        self.writer.keep_fds = self.journal.fds
        self.upstreams.journal = self.journal
        self.writer.start()
        self.cache = cache.make_cache(redis_url, prefix, self.store)
        self.freshness = make_freshness(redis_url, prefix, settings.DATA_DIR, self.reload)
        try:
            await self.freshness.load()
        except Exception:
            log.exception("catalogue not loaded at start; retrying on the next request")
        self.metrics.lag.start()
        if gc.get_freeze_count() == 0:
            # What start-up built (Django, the modules, the snapshot) lives as long as the process: out of
            # the collector's reach, so its full collections stay short (they stalled requests for ~50 ms).
            gc.collect()
            gc.freeze()
        self.started = True

    async def shutdown(self) -> None:
        if not self.started:
            return
        self.started = False
        self.metrics.lag.stop()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.upstreams.client.close()
        await self.limits.close()
        await self.cache.close()
        await self.freshness.close()
        await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)
        self.journal.close(complete=self.writer.pending == 0)
        await self.store.close()

    async def refresh(self) -> None:
        self.snapshot = await self.store.snapshot()
        self.snapshot_at = time.monotonic()

    async def reload(self) -> None:
        """After a configuration change (freshness.py): the snapshot again, no cached key nor listing."""
        self.keys.forget()
        self.listing = None
        await self.refresh()

    async def current_snapshot(self) -> Snapshot:
        """The snapshot, refreshed in the background once older than GATEWAY_CATALOG_REFRESH_SECONDS (at
        once when it must be: never loaded, or refreshes turned off)."""
        if time.monotonic() - self.snapshot_at >= self.refresh_seconds:
            if self.refresh_seconds <= 0 or not self.snapshot.catalogue.ids:
                await self.refresh()
            elif self.refreshing is None or self.refreshing.done():
                self.refreshing = asyncio.ensure_future(self.refresh())
        return self.snapshot

    async def load_spend(self, key: KeyInfo, since: datetime | None) -> Decimal:
        """What the key spent since `since`, the rows queued so far included."""
        await asyncio.get_running_loop().run_in_executor(None, self.writer.wait_flushed, 5.0)
        return await self.store.key_spend(key.id, since)

    # ---- ASGI ----
    async def __call__(self, scope, receive, send) -> None:
        if not self.started:  # served without an ASGI lifespan: the first requests start it, once
            async with self.starting:
                if not self.started:
                    await self.startup()
        path = scope["path"]
        endpoint = ENDPOINTS.get(path)
        shape = error_body if endpoint is None else endpoint.error_body
        try:
            if not self.hosts.allowed(scope):
                self.count_keyless("bad_host")
                raise GatewayError(400, "Invalid Host header", "bad_host")
            if path != "/metrics":
                await self.freshness.check()  # an admin change committed before this request applies to it
            if endpoint is not None:
                self.require(scope, ("POST",), path)
                await self.complete(endpoint, scope, receive, send)
            elif path == "/api/v1/models":
                self.require(scope, ("GET",), path)
                await self.models_endpoint(scope, send)
            elif path == "/api/v1/key":
                self.require(scope, ("GET",), path)
                key = await self.authenticate(scope)
                spent = await self.load_spend(key, period_start(key.budget_period, datetime.now(UTC)))
                await send_body(send, 200, info.key_body(key, spent))
            elif path == "/api/v1/generation":
                await lookup.generation_endpoint(self, scope, send)
            elif path == "/metrics":
                await self.metrics_endpoint(scope, send)
            else:
                raise GatewayError(404, f"No such endpoint: {path}")
        except GatewayError as exc:
            await send_error(send, exc, shape)
        except Exception:
            log.exception("gateway failure on %s", path)
            with contextlib.suppress(Exception):  # fails if the response had started
                await send_error(send, GatewayError(500, "Internal gateway error", "internal_error"), shape)

    @staticmethod
    def require(scope, methods: tuple[str, ...], path: str) -> None:
        if scope["method"] not in methods:
            raise GatewayError(405, f"Use {methods[0]} for {path}")

    def count_keyless(self, reason: str) -> None:
        self.metrics.refused_keyless(reason)
        self.writer.count_keyless(reason, datetime.now(UTC))

    async def authenticate(self, scope) -> KeyInfo:
        """The request's key, from its headers alone; refusals of unknown keys are counted, not recorded."""
        try:
            return await self.keys.find(bearer(scope["headers"]))
        except GatewayError as exc:
            if exc.code in KEYLESS:
                self.count_keyless(exc.code)
            raise

    async def models_endpoint(self, scope, send) -> None:
        """GET /models: OpenRouter's models for anyone (as OpenRouter's public endpoint); with a key, what
        the key may use, aliases and manual models included. A key sent but wrong is still refused (401)."""
        secret = bearer(scope["headers"])
        key = None if secret is None else await self.authenticate(scope)
        first = await lookup.usage_ranking(scope, key, self.store)  # order=usage: its most-used models first
        snapshot = await self.current_snapshot()  # the aliases too
        now = time.monotonic()
        if self.listing is None or now - self.listing[0] > max(self.refresh_seconds, 0):
            listing = await self.store.models_listing()
            self.listing = (now, listing, info.public_models_body(listing))
        if key is None:
            return await send_body(send, 200, self.listing[2])
        body = info.models_body(key, self.listing[1], snapshot.routing, snapshot.catalogue, first)
        await send_body(send, 200, body)

    async def metrics_endpoint(self, scope, send) -> None:
        """GET /metrics: Prometheus text for `Authorization: Bearer <METRICS_TOKEN>`; 404 if none is set."""
        token = settings.METRICS_TOKEN
        if not token:
            raise GatewayError(404, "No such endpoint: /metrics")
        self.require(scope, ("GET", "HEAD"), "/metrics")
        if not bearer_matches(scope["headers"], token):
            raise GatewayError(401, "Missing or wrong metrics token", "invalid_token")
        writer = self.writer
        body = self.metrics.render(
            pending=writer.pending,
            written=writer.written,
            spilled=writer.spilled,
            dead=dead_letter_rows(writer.spill_dir),
            alert_failures=await self.store.failed_deliveries(),
        )
        await send_body(send, 200, b"" if scope["method"] == "HEAD" else body, CONTENT_TYPE)

    # ---- a completion, top to bottom ----
    async def complete(self, endpoint: Endpoint, scope, receive, client_send) -> None:
        started, now = time.monotonic(), datetime.now(UTC)
        key = await self.authenticate(scope)  # an unknown key never gets its body read, nor a row
        row = LedgerRow(now, endpoint.name, request_id=request_id(), api_key_id=key.id)
        ticket = raw = kept = None
        send = LastHeld(client_send, row.request_id)  # names the request; its last message waits for `finish`
        try:
            try:
                raw = await read_body(scope, receive, self.body_limits)
                refused = key.refusal(now.timestamp())
                if refused is not None:
                    raise refused
                body = decode(raw)
                row.requested_model, row.stream, row.user_tag = asked(body)
                request = check(raw, body, endpoint)
                snapshot = await self.current_snapshot()
                if endpoint.native_ids and native_model(request, snapshot, row.meta):
                    row.requested_model = request.model
                plan = plan_request(
                    request, key, snapshot, max_attempts=self.max_attempts, rng=self.rng, now=row.created_at
                )
                row.meta.update(plan.meta)
                cache_id = cache.request_cache_id(scope["headers"], key.cache_responses, request, plan)
                if cache_id is not None:
                    cached = await self.cache.get(cache_id)
                    if cached is not None:
                        await cache.replay(send, cached, [])
                        cache.hit(cached, row)
                        return
                ticket = await self.admit(key, now, request, plan, snapshot, row.request_id)
            except GatewayError as exc:
                self.reject(row, exc, raw)
                await send_error(send, exc, endpoint.error_body)
                return
            capture = reply = cache.Capture() if cache_id is not None else None
            if key.capture_bodies:  # the reply's bytes kept for the writer's process (bodies.py)
                reply = kept = bodies.Kept(self.capture_limit, capture)
            self.journal.start(row, request, plan, ticket)
            await self.upstreams.forward(request, plan, scope, receive, send, row, started, reply)
            row.price(
                snapshot.catalogue, max_cost=self.max_request_cost, context_multiple=self.context_multiple
            )
            if capture is not None and not capture.overflow and row.status == "ok" and row.http_status == 200:
                self.background(self.cache.put(cache_id, cache.reply_of(row, capture), self.cache_ttl))
        finally:
            row.latency_ms = int((time.monotonic() - started) * 1000)
            if not row.status:  # an unexpected failure (answered 500 by __call__): still a row
                row.fail("error", 500, "internal_error", "")
            self.finish(row, key, ticket, now)
            if key.capture_bodies and raw:  # after its row, which the writer's process stores it with
                self.writer.capture(row, raw, kept)
            await send.release()

    @staticmethod
    def reject(row: LedgerRow, exc: GatewayError, raw: bytes | None) -> None:
        if raw and not row.requested_model:  # refused before the body was read into the row: what was asked
            with contextlib.suppress(GatewayError):
                row.requested_model, row.stream, row.user_tag = asked(decode(raw))
        row.fail("rejected", exc.status, exc.code, exc.message)
        row.computed_cost = Decimal(0)
        if exc.meta:
            row.meta.update(exc.meta)

    async def admit(self, key: KeyInfo, now: datetime, request, plan, snapshot: Snapshot, reservation: str):
        """The key's rates and budget: a ticket to settle when the request ends, or a refusal (raised).
        A budget reserves the request's worst-case cost over every model it may be served by."""
        if not key.limited:
            return None
        worst = FREE
        if key.budget_usd is not None:
            catalogue = snapshot.catalogue
            models = [m for attempt in plan.attempts for m in (attempt.model, *attempt.models)]
            worst = worst_of(
                request.body,
                models,
                lambda model, tokens: catalogue.prices_at(model, tokens, now),
                catalogue.limits_of,
                lambda tokens: catalogue.dearest_at(tokens, now),
                request.spec.has_output,
            )
        deadline = now + self.reservation_time
        try:
            refusal, ticket = await self.limits.admit(key, now, worst, deadline, reservation)
        except Exception:
            log.exception("limits unavailable")
            raise GatewayError(503, "Limits store unavailable, try again", "limits_unavailable") from None
        if refusal is not None:
            raise GatewayError(refusal.status, refusal.message, refusal.code, refusal.retry_after)
        return ticket

    def finish(self, row: LedgerRow, key: KeyInfo, ticket, now: datetime) -> None:
        try:
            self.metrics.observe(row, key.prefix)
        except Exception:  # metrics never break a request
            log.exception("metrics not updated")
        line = row.to_line()
        self.journal.end(row, line)  # on disk before the writer has it
        self.writer.record(row, line)
        if ticket is not None:
            tokens = row.prompt_tokens + row.completion_tokens
            # An estimate waiting for reconciliation keeps its worst case reserved until then.
            hold = now + self.reconcile_hold if row.cost_state == ESTIMATED else None
            self.background(self.settle(key, ticket, row.spent, tokens, now, hold))

    async def settle(self, key: KeyInfo, ticket, cost, tokens: int, now: datetime, hold=None) -> None:
        try:
            await self.limits.settle(key, ticket, cost, tokens, now, hold)
        except Exception:
            log.exception("limits not settled for key %s", key.prefix)

    def background(self, work) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


gateway = Gateway()
