"""The ledger row of one gateway request, filled in as the request goes (a field per LedgerEntry column).

Slotted: a misspelt field fails at once instead of being dropped when the row is saved. One row per request
of a known key, whatever became of it; requests without a known key are counted, not recorded (metrics and
usage.KeylessRefusal).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from usage.costs import cache_savings, computed_cost, spent_cost
from usage.usage_values import INVALID, as_cost, as_count, received

ESTIMATED = "estimated"  # LedgerEntry.CostState: the row's usage is an estimate, reconciliation pending
UNRECONCILED = "unreconciled"  # an estimate that stays (its upstream cannot be asked what it billed)


@dataclass(slots=True)
class LedgerRow:
    created_at: datetime  # when the request arrived
    endpoint: str
    request_id: str | None = None  # ours (app.request_id: time-ordered hex): a row is written once per id
    api_key_id: int | None = None
    requested_model: str = ""
    served_model: str = ""
    catalog_model_id: int | None = None
    provider: str = ""
    generation_id: str = ""
    finish_reason: str = ""  # why the output ended, as the reply says (stop, length, tool_calls...)
    stream: bool = False
    http_status: int = 0
    status: str = ""  # ok | error | cancelled | rejected | cached | interrupted; "" while it runs
    cost_state: str = ""  # "" as reported | estimated | reconciled | unreconciled (LedgerEntry.CostState)
    error_code: str = ""
    error_message: str = ""
    prompt_tokens: int = 0  # all input tokens, cached ones included
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes, one-hour ones included
    cache_write_1h_tokens: int = 0
    completion_tokens: int = 0  # all output tokens, reasoning included
    reasoning_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0
    web_search_requests: int = 0
    extra_usage: dict = field(default_factory=dict)
    reported_cost: Decimal | None = None
    computed_cost: Decimal | None = None
    cache_savings: Decimal = Decimal(0)  # at the effective prices, as computed_cost
    price_version_id: int | None = None
    latency_ms: int = 0
    ttft_ms: int | None = None
    upstream_latency_ms: int | None = None
    user_tag: str = ""
    meta: dict = field(default_factory=dict)  # routing: alias, strategy, upstream, skipped, attempts; cache
    # Not a column: the price changed after the request began, so the writer looks up the version then valid.
    reprice: bool = False

    @property
    def model(self) -> str:
        """The model the row is about: the one that served, else the one asked for."""
        return self.served_model or self.requested_model

    @property
    def spent(self) -> Decimal | None:
        return spent_cost(self.reported_cost, self.computed_cost)

    def fail(self, status: str, http_status: int, code: str, message: str) -> None:
        self.status = status
        self.http_status = http_status
        self.error_code = code[:60]
        self.error_message = message[:2000]

    def cost_at(self, prices: dict[str, Decimal | None] | None) -> Decimal | None:
        """Our cost of this row's usage at these (effective) prices (0 for a request that used nothing)."""
        if not (self.prompt_tokens or self.completion_tokens):
            return None if prices is None else Decimal(0)
        return computed_cost(
            prices,
            prompt_tokens=self.prompt_tokens,
            cached_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            completion_tokens=self.completion_tokens,
            reasoning_tokens=self.reasoning_tokens,
            web_search_requests=self.web_search_requests,
        )

    def price(self, catalogue, *, max_cost: Decimal, context_multiple: int, model: str = "") -> None:
        """Link the row to the catalogue model that served it (else `model`, else the one asked for) and
        cost it at that model's current prices, effective for the row's prompt size and start
        (catalog.price_schedule); a price changed since the request began is left to the writer
        (`reprice`)."""
        found = catalogue.price_for(model or self.model) or catalogue.price_for(self.requested_model)
        context = None if found is None else found.context_length
        self.vet(max_cost=max_cost, max_tokens=context * context_multiple if context else None)
        if found is None:
            return
        self.catalog_model_id = found.catalog_model_id
        if found.price_version_id is None:
            return
        if found.valid_from is not None and self.created_at < found.valid_from:
            self.reprice = True
            return
        self.price_version_id = found.price_version_id
        self.cost_with(found.at(self.prompt_tokens, self.created_at))

    def cost_with(self, prices: dict[str, Decimal | None] | None) -> None:
        """The computed cost and the prompt cache's savings at these (effective) prices."""
        self.computed_cost = self.cost_at(prices)
        self.cache_savings = cache_savings(self.cached_tokens, prices)

    def take_reply(self, payload: dict) -> None:
        """The generation id, the model that served, its provider and the finish reason, from a reply or a
        stream chunk."""
        value = payload.get("id")
        if isinstance(value, str):
            self.generation_id = value[:200]
        value = payload.get("model")
        if isinstance(value, str):
            self.served_model = value[:200]
        value = payload.get("provider")
        if isinstance(value, str):
            self.provider = value[:100]
        self.take_finish(payload)

    def take_finish(self, payload: dict) -> None:
        """The finish reason of a reply (or a stream chunk) when it has one: its first choice's (chat,
        completions), Anthropic's `stop_reason` (Messages), or a Responses object's status, with the reason
        it is incomplete."""
        choices = payload.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            value = choices[0].get("finish_reason")
        elif "stop_reason" in payload:
            value = payload["stop_reason"]
        elif payload.get("object") == "response":
            details = payload.get("incomplete_details")
            value = details.get("reason") if isinstance(details, dict) else payload.get("status")
        else:
            return
        if isinstance(value, str) and value:
            self.finish_reason = value[:40]

    def take_usage(self, usage: Any) -> None:
        """Token counts and OpenRouter's cost from a `usage` object (completion tokens include reasoning);
        categories the ledger has no column for are kept in extra_usage, values that cannot be right
        (usage.usage_values) in extra_usage["invalid"] as received."""
        if not isinstance(usage, dict):
            return
        prompt = _object(usage.get("prompt_tokens_details"))
        completion = _object(usage.get("completion_tokens_details"))
        tools = _object(usage.get("server_tool_use"))
        creation = _object(usage.get("cache_creation"))  # Anthropic's split of cache writes by lifetime
        invalid: dict[str, Any] = {}

        def count(name: str, source: dict, key: str) -> int:
            value = as_count(source.get(key))
            if value is None:
                invalid[name] = received(source[key])
                return 0
            return value

        self.prompt_tokens = count("prompt_tokens", usage, "prompt_tokens")
        self.completion_tokens = count("completion_tokens", usage, "completion_tokens")
        self.cached_tokens = count("cached_tokens", prompt, "cached_tokens")
        self.cache_write_tokens = count("cache_write_tokens", prompt, "cache_write_tokens")
        one_hour = count("cache_write_1h_tokens", creation, "ephemeral_1h_input_tokens")
        if not self.cache_write_tokens:
            self.cache_write_tokens = (
                count("cache_write_5m_tokens", creation, "ephemeral_5m_input_tokens") + one_hour
            )
        self.cache_write_1h_tokens = min(one_hour, self.cache_write_tokens)
        self.reasoning_tokens = count("reasoning_tokens", completion, "reasoning_tokens")
        self.audio_tokens = count("audio_tokens", prompt, "audio_tokens")
        self.image_tokens = count("image_tokens", completion, "image_tokens")
        self.web_search_requests = count("web_search_requests", tools, "web_search_requests")
        cost = as_cost(usage.get("cost"))
        if cost is False:
            invalid["cost"] = received(usage["cost"])
            cost = None
        self.reported_cost = cost
        extra = {key: value for key, value in usage.items() if key not in KNOWN_USAGE}
        if completion.get("audio_tokens"):
            extra["completion_audio_tokens"] = completion["audio_tokens"]
        if invalid:
            extra[INVALID] = invalid
        self.extra_usage = extra

    def vet(self, *, max_cost: Decimal, max_tokens: int | None = None) -> None:
        """Set aside what usage.usage_values refuses: a cost above the ceiling, token counts beyond the
        model's context (`max_tokens`), and any value a row from elsewhere (a spill file) may carry."""
        invalid: dict[str, Any] = {}
        for name in COUNT_FIELDS:
            value = getattr(self, name)
            if as_count(value) is None:
                invalid[name] = received(value)
                setattr(self, name, 0)
        if max_tokens is not None and max(self.prompt_tokens, self.completion_tokens) > max_tokens:
            for name in COUNT_FIELDS:
                if getattr(self, name):
                    invalid[name] = getattr(self, name)
                    setattr(self, name, 0)
        for name, key in (("reported_cost", "cost"), ("computed_cost", "computed_cost")):
            value = getattr(self, name)
            if value is not None and as_cost(value, max_cost) is False:
                invalid[key] = received(value)
                setattr(self, name, None)
        if invalid:
            if not isinstance(self.extra_usage, dict):
                self.extra_usage = {}
            self.extra_usage.setdefault(INVALID, {}).update(invalid)

    def to_line(self) -> bytes:
        """The row as one JSON object: how it goes to the ledger writer's process and sits in a spill file."""
        return orjson.dumps(self, default=_decimal_as_str)  # orjson writes a dataclass field by field

    @classmethod
    def from_line(cls, line: bytes) -> LedgerRow:
        data = orjson.loads(line)
        try:  # a line of this version has every field: passed by position, as by name costs 3× as much
            row = cls(*[data[name] for name in FIELDS]) if len(data) == len(FIELDS) else cls(**data)
        except KeyError:  # one field missing and another unknown: the TypeError below
            row = cls(**data)
        row.created_at = datetime.fromisoformat(row.created_at)
        for name in ("reported_cost", "computed_cost", "cache_savings"):
            value = getattr(row, name)
            if value is not None:
                setattr(row, name, Decimal(value))
        return row


FIELDS = tuple(each.name for each in fields(LedgerRow))  # in the order of LedgerRow's positional arguments


COUNT_FIELDS = ("prompt_tokens", "cached_tokens", "cache_write_tokens", "cache_write_1h_tokens")
COUNT_FIELDS += (
    "completion_tokens",
    "reasoning_tokens",
    "audio_tokens",
    "image_tokens",
    "web_search_requests",
)

KNOWN_USAGE = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "cost", "prompt_tokens_details"}
    | {"completion_tokens_details", "server_tool_use", "is_byok", "cache_creation"}
)


def _decimal_as_str(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
