"""The most a request can cost, as admission reserves it (docs/gateway.md, "What a budget guarantees").

No tokenizer can be downloaded offline, so the prompt is bounded from the body: a token is at least one byte
of UTF-8 text, so the body's JSON bytes (its text, plus the keys and punctuation around it, which stand in
for per-message overhead) bound the prompt's text tokens. Binary parts (images, audio, files as data URLs)
are left out of that count and bounded on their own: IMAGE_TOKENS per image, plus the model's per-image
price; audio and files by their decoded bytes. The output is bounded by `max_tokens` (chat, Messages),
`max_completion_tokens` or `max_output_tokens` (Responses), else the model's max completion tokens, else the
context left, times `n`; embeddings have no output.

The bound is priced at the effective prices for that prompt size now (catalog.price_schedule), each part at
the dearest price that can apply to it: input at the highest of the input and cache-write prices, output at
the higher of the completion and reasoning prices, plus the per-request fee.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from usage.budget_counters import to_nano

IMAGE_TOKENS = 3000  # tokens an image may take: above Claude's ~1 600, GPT-4o's 1 105 and GPT-4.1's 2 500
UNKNOWN_OUTPUT_TOKENS = 4096  # output bound of a model whose limits the catalogue does not know
BINARY_TYPES = ("image_url", "input_image", "image", "input_audio", "file", "input_file", "document")
INPUT_PRICES = ("prompt", "input_cache_write", "input_cache_write_1h")
OUTPUT_PRICES = ("completion", "internal_reasoning")


@dataclass(frozen=True, slots=True)
class ModelLimits:
    context_length: int | None = None
    max_completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class WorstCase:
    """What admission reserves for one request, and how the 402 explains a refusal."""

    amount: int  # nanodollars
    output_tokens: int  # "you requested up to N tokens"
    fixed: int = 0  # nanodollars that do not depend on the output: the prompt, images, fees
    per_output_token: Decimal = Decimal(0)  # nanodollars

    def affordable(self, left: int) -> int:
        """How many output tokens `left` nanodollars pay for, once the prompt and fees are paid."""
        if self.per_output_token <= 0:
            return self.output_tokens if left >= self.fixed else 0
        return max(0, int((left - self.fixed) / self.per_output_token))


FREE = WorstCase(0, 0)


@dataclass(frozen=True, slots=True)
class PromptBound:
    tokens: int  # text tokens, bounded by bytes, plus IMAGE_TOKENS per image and binary bytes
    images: int


def prompt_bound(body: dict) -> PromptBound:
    """An upper bound of the prompt's tokens, from the request body."""
    images = 0
    binary_bytes = 0

    def strip(value: Any) -> Any:
        nonlocal images, binary_bytes
        if isinstance(value, dict):
            kind = value.get("type")
            if kind in BINARY_TYPES:
                data = _data_bytes(value)
                if kind in ("image_url", "input_image", "image"):
                    images += 1
                else:
                    binary_bytes += data
                return None
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    text = len(orjson.dumps(strip(body)))
    return PromptBound(text + binary_bytes + images * IMAGE_TOKENS, images)


def _data_bytes(part: dict) -> int:
    """Decoded bytes of a part's base64 data (a data URL or a `data` field), 0 for a link."""
    longest = 0
    for value in _strings(part):
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
        elif len(value) < 256:
            continue
        longest = max(longest, len(value) * 3 // 4)
    return longest


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def output_bound(body: dict, limits: ModelLimits, prompt_tokens: int) -> int:
    """max_tokens (or max_completion_tokens), else the model's max completion tokens, else the context
    left; times `n` choices."""
    wanted = None
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(field)
        if type(value) is int and value >= 0:
            wanted = value
            break
    if wanted is None:
        if limits.max_completion_tokens:
            wanted = limits.max_completion_tokens
        elif limits.context_length:
            wanted = max(limits.context_length - prompt_tokens, 0)
        else:
            wanted = UNKNOWN_OUTPUT_TOKENS
    choices = body.get("n")
    return wanted * (choices if type(choices) is int and 1 <= choices <= 128 else 1)


def _dearest(prices: dict, names: tuple[str, ...]) -> Decimal | None:
    values = [prices.get(name) for name in names]
    if values[0] is None:
        return None  # variable
    return max(value for value in values if value is not None)


def worst_case(
    body: dict,
    prices: dict[str, Decimal | None] | None,
    limits: ModelLimits,
    bound: PromptBound,
    has_output: bool = True,
) -> WorstCase | None:
    """The most this request can cost on one model at these effective prices; None when the price is
    variable (the caller reserves the dearest model's), FREE when the model has no price at all."""
    if prices is None:
        return FREE
    input_price = _dearest(prices, INPUT_PRICES)
    output_price = _dearest(prices, OUTPUT_PRICES)
    if input_price is None or output_price is None:
        return None
    output_tokens = output_bound(body, limits, bound.tokens) if has_output else 0
    fixed = (
        bound.tokens * input_price
        + bound.images * (prices.get("image") or Decimal(0))
        + (prices.get("request") or Decimal(0))
    )
    per_token = output_price * Decimal(10**9)
    amount = to_nano(fixed + output_tokens * output_price)
    return WorstCase(amount, output_tokens, to_nano(fixed), per_token)


def worst_of(
    body: dict,
    models: list[str],
    price_of: Callable[[str, int], dict | None],
    limits_of: Callable[[str], ModelLimits],
    dearest: Callable[[int], dict | None],
    has_output: bool = True,
) -> WorstCase:
    """The worst case over the models a request may be served by (an alias's members, fallbacks); an
    endpoint without output (embeddings) reserves its prompt alone."""
    bound = prompt_bound(body)
    worst = FREE
    for model in models:
        limits = limits_of(model)
        case = worst_case(body, price_of(model, bound.tokens), limits, bound, has_output)
        if case is None:  # a variable price (a router): the dearest model in the catalogue
            case = worst_case(body, dearest(bound.tokens), limits, bound, has_output) or FREE
        if case.amount > worst.amount:
            worst = case
    return worst
