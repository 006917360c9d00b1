"""Sanity checks a listing passes before a sync applies it (docs/catalogue-sync.md, "Held syncs").

A sync is held, with nothing applied, when it would:
- retire more than CATALOG_SYNC_MAX_RETIRED_PERCENT of the current OpenRouter models;
- set a price above its unit's ceiling: CATALOG_SYNC_MAX_UNIT_PRICE for `image`, `request` and
  `web_search` (USD per image, request, search), CATALOG_SYNC_MAX_TOKEN_PRICE (USD per token) for every
  other category, in the base prices and in the overrides alike;
- raise a per-token price more than CATALOG_SYNC_RAISE_FACTOR times on more than
  CATALOG_SYNC_MAX_RAISED_PERCENT of the listed models that were already known.

Pure functions of what the sync would do: no database here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from catalog.numbers import as_decimal
from catalog.payload import Entry

# Categories priced per unit other than a token: their ceiling is the unit one. Everything else is per token.
UNIT_CATEGORIES = {"image": "image", "request": "request", "web_search": "web search"}
# Keys of an override entry that are conditions (min_prompt_tokens, utc_start...), not prices.
CONDITION_PREFIXES = ("min_", "max_", "utc_")
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class SyncLimits:
    max_retired_percent: Decimal = Decimal(50)
    max_token_price: Decimal = Decimal("0.01")
    max_unit_price: Decimal = Decimal(100)
    raise_factor: Decimal = Decimal(10)
    max_raised_percent: Decimal = Decimal(20)


def sync_limits() -> SyncLimits:
    """The limits from the settings (dashboard/settings.py, CATALOG_SYNC_*)."""
    return SyncLimits(
        max_retired_percent=settings.CATALOG_SYNC_MAX_RETIRED_PERCENT,
        max_token_price=settings.CATALOG_SYNC_MAX_TOKEN_PRICE,
        max_unit_price=settings.CATALOG_SYNC_MAX_UNIT_PRICE,
        raise_factor=settings.CATALOG_SYNC_RAISE_FACTOR,
        max_raised_percent=settings.CATALOG_SYNC_MAX_RAISED_PERCENT,
    )


@dataclass(frozen=True, slots=True)
class Repricing:
    """A known model's base prices before and after (category -> Decimal, None: variable, or as received)."""

    model_id: str
    old: Mapping[str, Any]
    new: Mapping[str, Any]


def hold_reason(
    *,
    current: int,
    retiring: int,
    priced: Iterable[Entry],
    compared: int,
    repricings: Iterable[Repricing],
    limits: SyncLimits,
) -> str | None:
    """Why the sync must be held (one line, without the "sync held: " prefix), or None to apply it.

    current: OpenRouter models current before the sync; retiring: how many of them it would retire;
    priced: the entries that get a new price version (added or repriced); compared: listed models that
    were already known; repricings: the old and new prices of the known ones repriced.
    """
    if current and retiring * HUNDRED > limits.max_retired_percent * current:
        return f"would retire {retiring} of {current} models (limit {_number(limits.max_retired_percent)}%)"
    for entry in priced:
        problem = _above_ceiling(entry, limits)
        if problem:
            return problem
    raised = sum(1 for r in repricings if raised_beyond(old=r.old, new=r.new, factor=limits.raise_factor))
    if compared and raised * HUNDRED > limits.max_raised_percent * compared:
        return (
            f"would raise prices more than {_number(limits.raise_factor)}× on {raised} of {compared} models "
            f"(limit {_number(limits.max_raised_percent)}%)"
        )
    return None


def raised_beyond(*, old: Mapping[str, Any], new: Mapping[str, Any], factor: Decimal) -> bool:
    """Does a per-token category's price rise more than `factor` times? A category free before (0 → paid),
    variable on either side ("-1"), missing, or priced per image / request / search never counts."""
    for name, before in old.items():
        if name in UNIT_CATEGORIES:
            continue
        was, now = _decimal(before), _decimal(new.get(name))
        if was is not None and now is not None and was > 0 and now > factor * was:
            return True
    return False


def _above_ceiling(entry: Entry, limits: SyncLimits) -> str | None:
    for name, value in _entry_prices(entry):
        price = _decimal(value)
        unit = UNIT_CATEGORIES.get(name)
        ceiling = limits.max_unit_price if unit else limits.max_token_price
        if price is not None and price > ceiling:
            return (
                f"would set {entry.model_id} {name} to ${_money(price)} per {unit or 'token'} "
                f"(ceiling ${_number(ceiling)})"
            )
    return None


def _entry_prices(entry: Entry) -> Iterable[tuple[str, Any]]:
    """Every (category, price) of an entry: base prices, other categories, then each override's prices."""
    yield from entry.prices.items()
    yield from entry.extra.items()
    overrides = entry.overrides if isinstance(entry.overrides, list) else []
    for override in overrides:
        if isinstance(override, dict):
            for name, value in override.items():
                if not name.startswith(CONDITION_PREFIXES):
                    yield name, value


def _decimal(value: Any) -> Decimal | None:
    """A finite, non-variable price as a Decimal; None for variable ("-1" / None), missing or not a number."""
    number = as_decimal(value)
    return number if number is not None and number >= 0 else None


def _money(price: Decimal) -> str:
    """At least 6 decimals ($2.000000), more when the price has them."""
    exact = format(price.normalize(), "f")
    decimals = len(exact.partition(".")[2])
    return f"{price:.{max(6, decimals)}f}"


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")
