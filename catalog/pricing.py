"""Price arithmetic and display for the pages: per-1M figures, USD strings, the cost calculator.

Pure functions over Decimals (never float). Prices are USD per token (or per request / image / search) as
stored in PriceVersion; NULL means "variable" (OpenRouter's "-1").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from catalog.models import PER_MILLION
from catalog.money import money_text

# What the pages show, in order: (field, label, per-token?). Per-token categories are shown per 1M tokens.
PRICE_CATEGORIES: tuple[tuple[str, str, bool], ...] = (
    ("prompt", "Input", True),
    ("completion", "Output", True),
    ("input_cache_read", "Cache read", True),
    ("input_cache_write", "Cache write", True),
    ("input_cache_write_1h", "Cache write (1 h)", True),
    ("internal_reasoning", "Reasoning", True),
    ("audio", "Audio input", True),
    ("request", "Per request", False),
    ("image", "Per image", False),
    ("web_search", "Per web search", False),
)
CATEGORY_LABELS = {field: label for field, label, _ in PRICE_CATEGORIES}
PER_TOKEN = {field for field, _, per_token in PRICE_CATEGORIES if per_token}

# Per-1M prices likewise (OpenRouter sometimes lists 1/12 of a cent per token...).
PER_MILLION_QUANTUM = Decimal("0.000001")


def per_million(price: Decimal | None) -> Decimal | None:
    """USD per token -> USD per 1M tokens (exact)."""
    if price is None:
        return None
    return price * PER_MILLION


def plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros, at least 2 decimals: 2.5 -> "2.50", 0.108 -> "0.108"."""
    text = format(value.normalize(), "f")
    whole, _, frac = text.partition(".")
    if len(frac) < 2:
        frac = frac.ljust(2, "0")
    return f"{whole}.{frac}"


def usd(value: Decimal | None) -> str:
    """ "$2.50"; a variable (None) price is "variable", never negative."""
    if value is None:
        return "variable"
    return f"${plain(value)}"


def usd_cost(value: Decimal | None) -> str:
    """A cost as every page shows money (catalog.money): "$0.000133", "$16.80"."""
    if value is None:
        return "variable"
    return money_text(value)


def usd_per_m(price: Decimal | None) -> str:
    """A per-token price per 1M tokens, to the micro-dollar: 0.0000000833333333333 -> "$0.083333"."""
    if price is None:
        return "variable"
    return usd(per_million(price).quantize(PER_MILLION_QUANTUM, rounding=ROUND_HALF_UP))


def is_free(prices: Mapping[str, Decimal | None]) -> bool:
    return prices.get("prompt") == 0 and prices.get("completion") == 0


def is_variable(prices: Mapping[str, Decimal | None]) -> bool:
    return prices.get("prompt") is None or prices.get("completion") is None


def _or_fallback(price: Decimal | None, fallback: Decimal | None) -> Decimal | None:
    """A category a model does not price (0) is billed at the base price when the base is not free."""
    if price is None:
        return None
    return price if price > 0 else fallback


@dataclass(frozen=True)
class Usage:
    """Token volumes by category. input_tokens counts all input, cached and cache-written included;
    cache_write_tokens counts all cache writes, the one-hour ones (cache_write_1h_tokens) included;
    output_tokens counts visible output only (reasoning_tokens come on top)."""

    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 0
    web_searches: int = 0


def usage_cost(prices: Mapping[str, Decimal | None], usage: Usage) -> Decimal | None:
    """What the usage costs at these prices; None when the model's price is variable.

    Cached input is billed at the cache-read price, cache writes at the cache-write price (one-hour writes
    at the one-hour price), reasoning at the internal-reasoning price; a model without such a price (0)
    bills them at its input / output price (one-hour writes at its cache-write price). The prices are the
    effective ones for the request (catalog.price_schedule).
    """
    if is_variable(prices):
        return None
    prompt = prices["prompt"]
    completion = prices["completion"]
    cache_read = _or_fallback(prices.get("input_cache_read") or Decimal(0), prompt)
    cache_write = _or_fallback(prices.get("input_cache_write") or Decimal(0), prompt)
    cache_write_1h = _or_fallback(prices.get("input_cache_write_1h") or Decimal(0), cache_write)
    reasoning = _or_fallback(prices.get("internal_reasoning") or Decimal(0), completion)
    uncached = max(usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens, 0)
    one_hour = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    return (
        uncached * prompt
        + usage.cached_tokens * cache_read
        + (usage.cache_write_tokens - one_hour) * cache_write
        + one_hour * cache_write_1h
        + usage.output_tokens * completion
        + usage.reasoning_tokens * reasoning
        + usage.requests * (prices.get("request") or Decimal(0))
        + usage.web_searches * (prices.get("web_search") or Decimal(0))
    )


@dataclass(frozen=True)
class Scenario:
    """The calculator's inputs, per request, times `requests`.

    output_tokens count all output, reasoning included (as OpenRouter and OpenAI count them):
    reasoning_tokens is the part of them billed at the reasoning price. cached_percent and
    cache_write_percent are whole percentages of the input tokens (together at most 100); the rest of the
    input is billed at the input price.
    """

    input_tokens: int = 1000
    output_tokens: int = 500
    cached_percent: int = 0
    reasoning_tokens: int = 0
    requests: int = 1
    cache_write_percent: int = 0


def scenario_cost(prices: Mapping[str, Decimal | None], scenario: Scenario) -> Decimal | None:
    """The calculator: exact cost of `requests` requests (static/js/compare.js does the same in BigInt).

    `prices` are the effective ones for a prompt of `scenario.input_tokens` (catalog.price_schedule).
    """
    if is_variable(prices):
        return None
    prompt = prices["prompt"]
    completion = prices["completion"]
    cache_read = _or_fallback(prices.get("input_cache_read") or Decimal(0), prompt)
    cache_write = _or_fallback(prices.get("input_cache_write") or Decimal(0), prompt)
    reasoning_price = _or_fallback(prices.get("internal_reasoning") or Decimal(0), completion)
    reasoning = min(scenario.reasoning_tokens, scenario.output_tokens)
    cached = Decimal(scenario.cached_percent) / 100
    written = Decimal(scenario.cache_write_percent) / 100
    per_request = (
        scenario.input_tokens * (1 - cached - written) * prompt
        + scenario.input_tokens * cached * cache_read
        + scenario.input_tokens * written * cache_write
        + (scenario.output_tokens - reasoning) * completion
        + reasoning * reasoning_price
        + (prices.get("request") or Decimal(0))
    )
    return per_request * scenario.requests
