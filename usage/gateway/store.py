"""The gateway's only door to the database: it calls usage's (and the catalogue's) services and selectors,
and turns what they return into the gateway's own types. No other gateway module imports them.

Async calls run in one database thread of the gateway's own, so the event loop never waits on the ORM;
the ledger writer's calls (ledger_write and friends) run in the writer's thread. Each thread keeps its
connection between calls and drops it after a database error (the next call reconnects).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, connections, transaction
from django.utils import timezone

from catalog.price_schedule import PriceSchedule
from catalog.selectors.listing import models_listing
from catalog.selectors.native_ids import native_model_ids
from catalog.selectors.prices import model_prices, price_at
from usage.gateway.auth import KeyInfo
from usage.gateway.lookup import UsageOrder
from usage.gateway.row import LedgerRow
from usage.gateway.snapshot import Catalogue, Price, Route, Routing, Snapshot
from usage.selectors.alerts import failed_deliveries_count
from usage.selectors.aliases import aliases_load
from usage.selectors.generations import key_models_by_usage, key_request
from usage.selectors.keys import api_key_by_secret_hash, key_spend_since
from usage.selectors.playground import playground_api_key
from usage.selectors.traffic import model_latency_p50
from usage.selectors.upstreams import upstream_targets
from usage.services.captures import captured_exchanges_record
from usage.services.key_counters import (
    BudgetOutcome,
    RateOutcome,
    key_budget_admit,
    key_budget_open,
    key_counters_settle,
    key_rate_admit,
)
from usage.services.ledger import keyless_refusals_add, ledger_record_many, ledger_record_missing
from usage.services.response_cache import cached_response_payload, cached_response_store

T = TypeVar("T")
ROW_FIELDS = tuple(name for name in LedgerRow.__dataclass_fields__ if name != "reprice")  # its columns
FAILED_DELIVERIES_SECONDS = 60.0  # /metrics reads the failed alert deliveries at most this often


class Busy(Exception):
    """The database refused for now (locked, or unreachable): the call may be tried again."""


def _key_info(key) -> KeyInfo | None:
    if key is None:
        return None
    allowed = tuple(str(m) for m in key.allowed_models) if isinstance(key.allowed_models, list) else ()
    return KeyInfo(
        id=key.pk,
        name=key.name,
        prefix=key.prefix,
        revoked_at=key.revoked_at,
        expires_at=key.expires_at,
        budget_usd=key.budget_usd,
        budget_period=key.budget_period,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        allowed_models=allowed,
        limited=key.budget_usd is not None or bool(key.rpm_limit) or bool(key.tpm_limit),
        cache_responses=key.cache_responses,
        capture_bodies=key.capture_bodies,
    )


def _snapshot() -> Snapshot:
    ids, prices = [], {}
    for model in model_prices():
        if model.current:
            ids.append(model.model_id)
        schedule = None if model.prices is None else PriceSchedule.of(model.prices, model.overrides)
        prices[model.model_id] = Price(
            model.catalog_model_id,
            model.price_version_id,
            model.valid_from,
            schedule,
            model.context_length,
            model.max_completion_tokens,
        )
    routes = tuple(
        Route(t.name, t.url, t.model_prefix, t.key_env, t.key, t.openrouter, t.strip_prefix, t.endpoints)
        for t in upstream_targets()
    )
    aliases = aliases_load()
    latency = {}
    if any(alias.strategy == "fastest" for alias in aliases.values()):
        latency = model_latency_p50(since=timezone.now() - timedelta(hours=1))
    catalogue = Catalogue(frozenset(ids), prices, native_model_ids())
    return Snapshot(catalogue, Routing(routes, aliases, latency))


def database_url() -> str:
    """The DATABASE_URL of the gateway's database (tests: the test database), for the writer's process."""
    settings_dict = connections["default"].settings_dict
    if "sqlite" in settings_dict["ENGINE"]:
        return "sqlite:///" + str(Path(settings_dict["NAME"]).resolve())
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    options = {k: v for k, v in (settings_dict.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{auth}{settings_dict.get('HOST') or ''}{port}/{quote(settings_dict['NAME'])}{query}"


def _in_thread(function: Callable[..., T], *args) -> T:
    try:
        return function(*args)
    except DatabaseError as exc:
        connection.close()  # a broken or busy connection is not reused
        if isinstance(exc, OperationalError):
            raise Busy(str(exc)) from exc
        raise


class Store:
    Busy = Busy

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")
        self.usage_order = UsageOrder(self._models_by_usage, settings.GATEWAY_USAGE_ORDER_SECONDS)
        self.failed_deliveries_read: tuple[float, int] | None = None  # (monotonic time, count)

    async def run(self, function: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, _in_thread, function, *args)

    async def close(self) -> None:
        await self.run(connections.close_all)
        self.executor.shutdown(wait=True)

    # ---- keys, catalogue, routing ----
    async def key(self, digest: str) -> KeyInfo | None:
        return await self.run(lambda: _key_info(api_key_by_secret_hash(digest=digest)))

    async def playground_key(self, token: str) -> KeyInfo | None:
        return await self.run(lambda: _key_info(playground_api_key(token)))

    async def snapshot(self) -> Snapshot:
        return await self.run(_snapshot)

    async def models_listing(self) -> list[tuple[str, bool, dict]]:
        """(id, synced from OpenRouter, Models API object) of every current model, newest first."""
        return await self.run(lambda: [(m.model_id, m.openrouter, m.entry) for m in models_listing()])

    async def key_spend(self, key_id: int, since: datetime | None) -> Decimal:
        return await self.run(lambda: key_spend_since(api_key_id=key_id, since=since))

    # ---- a key's own ledger (lookup.py) ----
    async def generation(self, key_id: int, lookup_id: str) -> LedgerRow | None:
        """The key's request with this request id or generation id, as a LedgerRow (None: not the key's)."""

        def find() -> LedgerRow | None:
            entry = key_request(api_key_id=key_id, lookup_id=lookup_id)
            return None if entry is None else LedgerRow(**{name: getattr(entry, name) for name in ROW_FIELDS})

        return await self.run(find)

    async def models_by_usage(self, key_id: int, days: int) -> tuple[str, ...]:
        """The models the key's owner (else the key) used most over the last `days` days, most first; kept
        GATEWAY_USAGE_ORDER_SECONDS per key and window."""
        return await self.usage_order.ranking(key_id, days)

    async def _models_by_usage(self, key_id: int, days: int) -> tuple[str, ...]:
        end = timezone.now()
        start = end - timedelta(days=days)
        return await self.run(lambda: tuple(key_models_by_usage(api_key_id=key_id, start=start, end=end)))

    async def failed_deliveries(self) -> int:
        """Alert deliveries that failed every attempt, read at most once a minute (never per scrape)."""
        read = self.failed_deliveries_read
        if read is None or time.monotonic() - read[0] >= FAILED_DELIVERIES_SECONDS:
            read = self.failed_deliveries_read = (time.monotonic(), await self.run(failed_deliveries_count))
        return read[1]

    # ---- limits without Redis (usage.KeyCounter) ----
    async def limits_admit(
        self,
        key: KeyInfo,
        rate_window: str | None,
        reserve: tuple[str, int, int, str, datetime] | None,
        now: datetime,
        spent: int | None = None,
    ) -> tuple[RateOutcome | None, BudgetOutcome | None]:
        """The rate check (when `rate_window`), then the budget's (when `reserve`: window, budget, amount,
        reservation id, deadline), in one call; the budget outcome is None when its window has no row yet:
        call again with the ledger's `spent`."""

        @transaction.atomic  # one write transaction (on SQLite, one lock and one commit) for both checks
        def admit():
            rate = None
            if rate_window is not None:
                rpm, tpm = key.rpm_limit or 0, key.tpm_limit or 0
                rate = key_rate_admit(key_id=key.id, window=rate_window, rpm=rpm, tpm=tpm)
                if not rate.admitted:
                    return rate, None
            if reserve is None:
                return rate, None
            window, budget, amount, reservation, deadline = reserve
            if spent is not None:
                key_budget_open(key_id=key.id, window=window, spent=spent)
            outcome = key_budget_admit(
                key_id=key.id,
                window=window,
                budget=budget,
                amount=amount,
                reservation=reservation,
                deadline=deadline,
                now=now,
            )
            return rate, outcome

        return await self.run(admit)

    async def limits_settle(
        self, key_id, minute, tokens, budget_window, reservation, cost, forget, hold_until=None, held=False
    ) -> None:
        await self.run(
            lambda: key_counters_settle(
                key_id=key_id,
                now=timezone.now(),
                minute=minute,
                tokens=tokens,
                budget_window=budget_window,
                reservation=reservation,
                cost=cost,
                forget_old_minutes=forget,
                hold_until=hold_until,
                only_if_held=held,
            )
        )

    # ---- the response cache without Redis (usage.CachedResponse) ----
    async def cached_reply(self, key: str, now: datetime) -> bytes | None:
        return await self.run(lambda: cached_response_payload(key=key, now=now))

    async def cache_reply(self, key: str, payload: bytes, now: datetime, ttl: int, prune: bool) -> None:
        await self.run(
            lambda: cached_response_store(key=key, payload=payload, now=now, ttl_seconds=ttl, prune=prune)
        )

    # ---- the ledger writer's calls, in its own thread ----
    @staticmethod
    def ledger_write(rows: list[Any]) -> int:
        """Write rows (LedgerRow) in one transaction; raises if the database refuses."""
        return _in_thread(lambda: ledger_record_many(rows=rows))

    @staticmethod
    def ledger_write_missing(rows: list[Any]) -> int:
        """Write the rows whose request id the ledger lacks (a journal's replay: journal.py)."""
        return _in_thread(lambda: ledger_record_missing(rows=rows))

    @staticmethod
    def ledger_reprice(row: Any) -> None:
        """Cost a row at the price version valid when its request began (older than the one in memory)."""
        version = _in_thread(lambda: price_at(catalog_model_id=row.catalog_model_id, at=row.created_at))
        if version is not None:
            row.price_version_id = version.pk
            row.cost_with(version.prices_at(row.prompt_tokens, row.created_at))

    @staticmethod
    def captures_write(exchanges: list[tuple[str, Any]]) -> int:
        """Store captured exchanges (request id, usage.exchanges.Exchange) of rows in the ledger."""
        return _in_thread(lambda: captured_exchanges_record(exchanges=exchanges))

    @staticmethod
    def keyless_add(counts: Mapping[tuple[datetime, str], int]) -> None:
        _in_thread(lambda: keyless_refusals_add(counts=counts))

    @staticmethod
    def thread_done() -> None:
        """The calling thread is done with the database."""
        connection.close()
