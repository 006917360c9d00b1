"""Reading numbers as exact Decimals: the one reader behind listing prices (catalog.payload), price
overrides (catalog.price_schedule) and upstream costs (usage.usage_values). A leaf: it imports nothing of
ours."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def as_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a JSON string or number, else None."""
    if type(value) is Decimal:  # immutable: itself, if finite
        return value if value.is_finite() else None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None
