"""Alias strategies: which members a request goes to, in which order (pure). See docs/gateway.md.

A plan skips members whose blended price for the request is above their ceiling, then orders the rest by
the alias's strategy: ordered, cheapest, fastest or weighted. The first model is tried first; the others
are fallbacks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from catalog.model_ids import base_model_id
from usage.routing import AliasMemberSpec, AliasSpec

DEFAULT_OUTPUT_TOKENS = 256
MILLION = Decimal(1_000_000)
TEXT_PARTS = ("text", "input_text", "output_text")  # chat and Messages parts; Responses input and output


@dataclass(frozen=True, slots=True)
class MemberOrder:
    models: list[str]  # to try in this order; empty when every member was skipped
    skipped: list[dict]  # {"model": ..., "reason": ...} in alias order
    strategy: str


def _text_chars(content) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if (
                isinstance(part, dict)
                and part.get("type") in TEXT_PARTS
                and isinstance(part.get("text"), str)
            ):
                total += len(part["text"])
        return total
    return 0


def _is_token_ids(value) -> bool:
    return isinstance(value, list) and bool(value) and all(type(v) is int for v in value)


def expected_tokens(body: dict, endpoint: str) -> tuple[int, int]:
    """(input, output) tokens expected: characters / 4 (ceil, at least 1), and max_tokens (else 256).

    Input counts the string contents (and "text" parts) of chat messages (and a Messages `system`), a
    Responses `input` (a string, or items with such contents), or the completions prompt or embeddings
    input: a string, a list of strings, a list of token ids (its length, already in tokens) or a list of
    such lists.
    """
    chars = 0
    token_ids = 0
    if endpoint == "completions" or endpoint == "embeddings":
        prompt = body.get("prompt" if endpoint == "completions" else "input")
        if isinstance(prompt, str):
            chars = len(prompt)
        elif _is_token_ids(prompt):
            token_ids = len(prompt)
        elif isinstance(prompt, list):
            for item in prompt:
                if isinstance(item, str):
                    chars += len(item)
                elif _is_token_ids(item):
                    token_ids += len(item)
    else:
        messages = body.get("messages")
        if endpoint == "messages":
            chars = _text_chars(body.get("system"))
        elif endpoint == "responses":
            messages = body.get("input")
            if isinstance(messages, str):
                chars, messages = len(messages), None
        if isinstance(messages, list):
            for message in messages:
                if isinstance(message, dict):
                    chars += _text_chars(message.get("content"))
    input_tokens = max(1, math.ceil(chars / 4) + token_ids)
    output_tokens = DEFAULT_OUTPUT_TOKENS
    if endpoint == "embeddings":
        return input_tokens, 0
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(field)
        if type(value) is int and value >= 0:
            output_tokens = value
            break
    return input_tokens, output_tokens


def blended_price_per_million(prices: dict | None, tokens: tuple[int, int]) -> Decimal | None:
    """USD per 1M tokens for this input/output mix; None without non-negative prompt and completion prices."""
    if not prices:
        return None
    prompt, completion = prices.get("prompt"), prices.get("completion")
    if prompt is None or completion is None or prompt < 0 or completion < 0:
        return None
    input_tokens, output_tokens = tokens
    total = input_tokens + output_tokens
    if total <= 0:
        return None
    return (input_tokens * Decimal(prompt) + output_tokens * Decimal(completion)) * MILLION / total


def format_price(value: Decimal) -> str:
    """A price per 1M tokens as plain text: rounded to 6 decimals, no trailing zeros, no exponent."""
    return format(value.quantize(Decimal("0.000001")).normalize(), "f")


def order_members(
    alias: AliasSpec,
    *,
    body: dict,
    endpoint: str,
    price_for: Callable[[str, int], dict | None],
    latency_p50: dict[str, int],
    rng: random.Random,
) -> MemberOrder:
    """The models to try for this request, best first, and the members skipped by their price ceiling.

    `price_for(model, prompt_tokens)` gives the model's effective prices for a prompt of that size now
    (catalog.price_schedule): a long prompt is compared at its long-context tier."""
    tokens = expected_tokens(body, endpoint)
    kept: list[tuple[AliasMemberSpec, Decimal | None]] = []
    skipped: list[dict] = []
    for member in alias.members:
        price = blended_price_per_million(price_for(member.model, tokens[0]), tokens)
        ceiling = member.max_price_per_million
        if ceiling is not None:
            if price is None:
                skipped.append({"model": member.model, "reason": "no price"})
                continue
            if price > ceiling:
                reason = f"price {format_price(price)} above ceiling {format_price(Decimal(ceiling))}"
                skipped.append({"model": member.model, "reason": reason})
                continue
        kept.append((member, price))

    if alias.strategy == "cheapest":
        kept.sort(key=lambda pair: (pair[1] is None, pair[1] if pair[1] is not None else 0))
    elif alias.strategy == "fastest":

        def latency(pair):
            model = pair[0].model
            value = latency_p50.get(model, latency_p50.get(base_model_id(model)))
            return (value is None, value if value is not None else 0)

        kept.sort(key=latency)
    elif alias.strategy == "weighted" and kept:
        weights = [max(member.weight, 0) for member, _ in kept]
        if sum(weights) > 0:
            [first] = rng.choices(range(len(kept)), weights=weights, k=1)
            kept.insert(0, kept.pop(first))
    return MemberOrder(models=[member.model for member, _ in kept], skipped=skipped, strategy=alias.strategy)
