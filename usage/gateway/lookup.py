"""The gateway's reads of a key's own ledger: GET /api/v1/generation?id= (one request, in OpenRouter's shape)
and the usage order of GET /api/v1/models?order=usage&days=N (the models the key's owner used most first).

/generation takes OpenRouter's generation id or our request id (the `x-tokenledger-request-id` header of
every answer to a completion). It answers as OpenRouter's GET /generation does, `{"data": {...}}`, from our
ledger row: the request that was served, never a response cache hit's copy of it; another key's request is
a 404, as an unknown one. Costs are exact decimals (JSON numbers as stored), `total_cost` is what the request
spent (OpenRouter's cost where it gave one, else ours) and `tokenledger` adds what OpenRouter's shape has no
field for: our request id, endpoint and status, both costs and whether the cost is an estimate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import orjson

from usage.gateway.responses import GatewayError, send_body
from usage.gateway.row import ESTIMATED, UNRECONCILED, LedgerRow

MAX_DAYS = 365
DEFAULT_DAYS = 30


def _query(scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


async def generation_endpoint(gateway, scope, send) -> None:
    """GET /generation?id=: the key's request with this id (404 for another key's, or none), 400 without
    an id; read after the rows queued so far are written, when the first look misses."""
    gateway.require(scope, ("GET",), "/api/v1/generation")
    key = await gateway.authenticate(scope)
    refused = key.refusal(time.time())
    if refused is not None:
        raise refused
    lookup_id = (_query(scope).get("id") or [""])[-1].strip()
    if not lookup_id:
        message = "Missing id: GET /api/v1/generation?id=<generation id or request id>"
        raise GatewayError(400, message, "missing_id")
    row = await gateway.store.generation(key.id, lookup_id)
    writer = gateway.writer
    if row is None and writer.pending:  # its row may still be on its way to the ledger
        await asyncio.get_running_loop().run_in_executor(None, writer.wait_flushed, 5.0)
        row = await gateway.store.generation(key.id, lookup_id)
    if row is None:
        raise GatewayError(404, f"Generation {lookup_id[:200]} not found", "not_found")
    await send_body(send, 200, generation_body(row))


def _money(value: Decimal | None) -> orjson.Fragment | None:
    """A cost as an exact JSON number (no float on the way)."""
    return None if value is None else orjson.Fragment(format(value.normalize(), "f").encode())


def generation_body(row: LedgerRow) -> bytes:
    """OpenRouter's GET /generation shape for one ledger row (fields we do not know are null)."""
    spent = _money(row.spent)
    first = row.ttft_ms if row.ttft_ms is not None else row.upstream_latency_ms
    data: dict[str, Any] = {
        "id": row.generation_id or row.request_id,
        "request_id": row.request_id,
        "upstream_id": None,
        "total_cost": spent,
        "cache_discount": None,
        "upstream_inference_cost": None,
        "created_at": row.created_at.isoformat(),
        "model": row.model,
        "app_id": None,
        "streamed": row.stream,
        "cancelled": row.status == "cancelled",
        "provider_name": row.provider or None,
        "latency": first,  # until the first token (a stream's), else until the upstream's headers
        "moderation_latency": None,
        "generation_time": None if first is None else max(row.latency_ms - first, 0),
        "finish_reason": row.finish_reason or None,
        "native_finish_reason": None,
        "tokens_prompt": row.prompt_tokens,
        "tokens_completion": row.completion_tokens,
        "native_tokens_prompt": row.prompt_tokens,
        "native_tokens_completion": row.completion_tokens,
        "native_tokens_completion_images": row.image_tokens,
        "native_tokens_reasoning": row.reasoning_tokens,
        "native_tokens_cached": row.cached_tokens,
        "num_media_prompt": None,
        "num_input_audio_prompt": None,
        "num_media_completion": None,
        "num_search_results": row.web_search_requests,
        "origin": "",
        "usage": spent,
        "is_byok": False,
        "external_user": row.user_tag or None,
        "api_type": "embeddings" if row.endpoint == "embeddings" else "completions",
        "tokenledger": {
            "request_id": row.request_id,
            "endpoint": row.endpoint,
            "requested_model": row.requested_model,
            "status": row.status,
            "http_status": row.http_status,
            "error_code": row.error_code,
            "error_message": row.error_message,
            "cost_estimated": row.cost_state in (ESTIMATED, UNRECONCILED),
            "cost_state": row.cost_state,
            "reported_cost": _money(row.reported_cost),
            "computed_cost": _money(row.computed_cost),
            "cache_write_tokens": row.cache_write_tokens,
            "cache_write_1h_tokens": row.cache_write_1h_tokens,
            "latency_ms": row.latency_ms,
            "ttft_ms": row.ttft_ms,
            "upstream_latency_ms": row.upstream_latency_ms,
        },
    }
    return orjson.dumps({"data": data})


def usage_days(scope, has_key: bool) -> int | None:
    """The window of `order=usage` in days (`days`, default 30), or None for the usual order; 400 for an
    order other than usage, a `days` that is not 1 to 365, and order=usage without a key (whose usage?)."""
    if not scope.get("query_string"):
        return None
    query = _query(scope)
    order, days = (query.get("order") or [None])[-1], (query.get("days") or [None])[-1]
    if days is not None and not (days.isascii() and days.isdigit() and 1 <= int(days[:4]) <= MAX_DAYS):
        raise GatewayError(400, f"days must be a whole number from 1 to {MAX_DAYS}", "bad_days")
    if order is None:
        return None
    if order != "usage":
        raise GatewayError(400, f"Unknown order {order[:50]!r}: the only order is usage", "bad_order")
    if not has_key:
        message = "order=usage lists your own most-used models first: send your API key"
        raise GatewayError(400, message, "key_required")
    return DEFAULT_DAYS if days is None else int(days)


async def usage_ranking(scope, key, store) -> tuple[str, ...]:
    """With order=usage, the models the key's owner used most (of the `days` window), most first; else ()."""
    days = usage_days(scope, key is not None)
    return () if days is None else await store.models_by_usage(key.id, days)


def by_usage(data: list[dict], ranking: tuple[str, ...]) -> list[dict]:
    """The listing's entries of the ranked models first, in the ranking's order, then the rest as listed."""
    if not ranking:
        return data
    place = {model_id: index for index, model_id in enumerate(ranking)}
    first = sorted((entry for entry in data if entry["id"] in place), key=lambda entry: place[entry["id"]])
    return first + [entry for entry in data if entry["id"] not in place]


class UsageOrder:
    """A key's most-used models per (key, days), kept `seconds` so that the listing stays cheap; one read at
    a time per (key, days), however many requests ask together."""

    def __init__(self, load: Callable[[int, int], Awaitable[tuple[str, ...]]], seconds: float) -> None:
        self.load = load
        self.seconds = seconds
        self.entries: dict[tuple[int, int], tuple[float, tuple[str, ...]]] = {}
        self.loading: dict[tuple[int, int], asyncio.Future] = {}

    async def ranking(self, key_id: int, days: int) -> tuple[str, ...]:
        wanted = (key_id, days)
        entry = self.entries.get(wanted)
        if entry is not None and time.monotonic() - entry[0] < self.seconds:
            return entry[1]
        future = self.loading.get(wanted)
        if future is None:
            future = self.loading[wanted] = asyncio.ensure_future(self._load(wanted))
        return await asyncio.shield(future)

    async def _load(self, wanted: tuple[int, int]) -> tuple[str, ...]:
        try:
            ranking = await self.load(*wanted)
            if len(self.entries) >= 10_000:
                self.entries.clear()
            self.entries[wanted] = (time.monotonic(), ranking)
            return ranking
        finally:
            del self.loading[wanted]
