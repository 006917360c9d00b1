"""What a request cost and what it saved: each rule once, as a Python function and, where the pages
aggregate it in the database, as the ORM expression that computes the same thing per ledger row.

- spent: the cost the upstream reported, else ours (budgets, spend pages, metrics, the playground).
- computed: ours, from a price version's prices (catalog.pricing.usage_cost).
- prompt-cache savings: cached tokens × (input price − cache-read price); nothing when the model has no
  cache-read price, for its cached input is then billed at the input price.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.db.models import DecimalField, Value
from django.db.models.functions import Coalesce

from catalog.pricing import Usage, usage_cost

COST = {"max_digits": 30, "decimal_places": 18}  # the ledger's money columns (usage.models)
MONEY = DecimalField(**COST)
ZERO = Value(Decimal(0), output_field=MONEY)


def spent_cost(reported: Decimal | None, computed: Decimal | None) -> Decimal | None:
    """What a request cost as budgets and spend pages count it: the reported cost, else ours."""
    return computed if reported is None else reported


# spent_cost per ledger row, in SQL (0 when neither is known).
SPENT_COST = Coalesce("reported_cost", "computed_cost", ZERO, output_field=MONEY)


def computed_cost(
    prices: Mapping[str, Decimal | None] | None,
    *,
    prompt_tokens: int = 0,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    completion_tokens: int = 0,
    reasoning_tokens: int = 0,
    web_search_requests: int = 0,
) -> Decimal | None:
    """Our cost of one request at these prices (None: no price, or a variable one).

    Tokens as the ledger counts them: prompt includes cached and cache-written tokens, cache writes include
    the one-hour ones, completion includes reasoning (billed at internal_reasoning where the model has such
    a price).
    """
    if prices is None:
        return None
    reasoning = min(reasoning_tokens, completion_tokens)
    return usage_cost(
        prices,
        Usage(
            input_tokens=prompt_tokens,
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            output_tokens=completion_tokens - reasoning,
            reasoning_tokens=reasoning,
            requests=1,
            web_searches=web_search_requests,
        ),
    )


def cache_savings(cached_tokens: int, prices: Mapping[str, Decimal | None] | None) -> Decimal:
    """What reading `cached_tokens` from the prompt cache saved against the input price."""
    if not prices or prices.get("prompt") is None:
        return Decimal(0)
    read = prices.get("input_cache_read")
    if read is None or read <= 0:
        return Decimal(0)
    return cached_tokens * (prices["prompt"] - read)
