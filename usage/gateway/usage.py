"""OpenRouter's `usage` object read into ledger fields, and our computed cost at a price version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from catalog.pricing import Usage, usage_cost

KNOWN_TOP = {"prompt_tokens", "completion_tokens", "total_tokens", "cost", "prompt_tokens_details"}
KNOWN_TOP |= {"completion_tokens_details", "server_tool_use", "is_byok"}


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def _decimal(value: Any) -> Decimal | None:
    if type(value) in (int, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return None
    return None


def usage_fields(usage: Any) -> dict[str, Any]:
    """Ledger fields from a usage object (OpenRouter's: completion tokens include reasoning tokens)."""
    if not isinstance(usage, dict):
        return {}
    prompt = usage.get("prompt_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = usage.get("completion_tokens_details")
    completion = completion if isinstance(completion, dict) else {}
    tools = usage.get("server_tool_use")
    tools = tools if isinstance(tools, dict) else {}
    extra = {key: value for key, value in usage.items() if key not in KNOWN_TOP}
    if completion.get("audio_tokens"):
        extra["completion_audio_tokens"] = completion["audio_tokens"]
    return {
        "prompt_tokens": _int(usage.get("prompt_tokens")),
        "completion_tokens": _int(usage.get("completion_tokens")),
        "cached_tokens": _int(prompt.get("cached_tokens")),
        "cache_write_tokens": _int(prompt.get("cache_write_tokens")),
        "reasoning_tokens": _int(completion.get("reasoning_tokens")),
        "audio_tokens": _int(prompt.get("audio_tokens")),
        "image_tokens": _int(completion.get("image_tokens")),
        "web_search_requests": _int(tools.get("web_search_requests")),
        "reported_cost": _decimal(usage.get("cost")),
        "extra_usage": extra,
    }


def spent_cost(row: dict[str, Any]) -> Decimal | None:
    """What a ledger row cost, as budgets and spend pages count it: the reported cost, else ours."""
    cost = row.get("reported_cost")
    return row.get("computed_cost") if cost is None else cost


def computed_cost(prices: dict[str, Decimal | None] | None, fields: dict[str, Any]) -> Decimal | None:
    """Our cost of one request at these prices (None: no price or a variable one).

    (prompt − cached − cache-write) × prompt + cached × input_cache_read + cache-write × input_cache_write
    + completion × completion (reasoning is part of completion; billed at internal_reasoning when the
    model has such a price) + request + web searches × web_search: catalog.pricing.usage_cost.
    """
    if prices is None:
        return None
    completion = fields.get("completion_tokens", 0)
    reasoning = min(fields.get("reasoning_tokens", 0), completion)
    return usage_cost(
        prices,
        Usage(
            input_tokens=fields.get("prompt_tokens", 0),
            cached_tokens=fields.get("cached_tokens", 0),
            cache_write_tokens=fields.get("cache_write_tokens", 0),
            output_tokens=completion - reasoning,
            reasoning_tokens=reasoning,
            requests=1,
            web_searches=fields.get("web_search_requests", 0),
        ),
    )
