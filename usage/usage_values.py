"""What an upstream's usage may say before the ledger stores it (one rule, used by the gateway as it reads a
reply, by the ledger writer before it writes, and by the repair of rows stored before the rule existed).

- A cost must be a finite number, at least 0 and at most a ceiling (settings.GATEWAY_MAX_REQUEST_COST).
- A token count must be an integer, at least 0 and below 2³¹, and within a set multiple of the model's
  context (settings.GATEWAY_MAX_CONTEXT_MULTIPLE) when the context is known.

A bad value is never stored in its column, and never counts as spend: it is kept as received in the row's
`extra_usage["invalid"]` (a flag pages can show), and its column gets the safe value (no reported cost, so
the computed cost is spent; 0 tokens).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from catalog.numbers import as_decimal

MAX_COUNT = 2**31 - 1
INVALID = "invalid"  # extra_usage's key for the values set aside


def as_count(value: Any) -> int | None:
    """A token count as stored (0 for absent or null), or None when it is not a valid count."""
    if value is None:
        return 0
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return None


def as_cost(value: Any, ceiling: Decimal | None = None) -> Decimal | None | bool:
    """A cost as a Decimal (None for absent or null), or False when it is not a valid cost."""
    if value is None:
        return None
    cost = as_decimal(value)
    if cost is None or cost < 0 or (ceiling is not None and cost > ceiling):
        return False
    return cost


def received(value: Any) -> Any:
    """A bad value as it can be kept in JSON: numbers that JSON cannot hold (NaN, ±inf, Decimals) as text."""
    if isinstance(value, float | Decimal) and not (value == value and abs(value) != float("inf")):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    return value
