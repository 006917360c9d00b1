"""The one price function: what a model costs for a request of a given prompt size at a given moment.

A price version holds base prices and OpenRouter's `pricing.overrides`, a list of conditional entries
(documented on OpenRouter's `PricingOverride` type; docs/prices.md):

- an entry applies when all its conditions match the request:
  - `min_prompt_tokens`: the request's prompt tokens are *strictly greater* than it;
  - `utc_start` / `utc_end`: the request's UTC time of day is in the half-open window [start, end), given as
    HHMM clock numbers (100 = 01:00, 1030 = 10:30). A window with start > end wraps past midnight;
    a missing start is 00:00 and a missing end 24:00;
- among the entries that apply, later ones win per price key;
- price keys an entry lacks inherit the base price.

Prices are strings and conditions numbers, as OpenRouter sends them: an entry with a condition this code does
not know (or a value it cannot read) never applies, for it cannot be evaluated; an entry that is not an
object is ignored. The prompt size is OpenRouter's `prompt_tokens`: cached and cache-write tokens
included. Prices stay exact Decimals; "-1" (variable) is None, as in the price columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from catalog.numbers import as_decimal

CONDITIONS = frozenset({"min_prompt_tokens", "utc_start", "utc_end"})
MINUTES_PER_DAY = 24 * 60
VARIABLE = Decimal(-1)

Prices = Mapping[str, Decimal | None]


@dataclass(frozen=True, slots=True)
class Override:
    """One parsed `overrides` entry: its conditions and the prices it sets."""

    prices: tuple[tuple[str, Decimal | None], ...]
    min_prompt_tokens: Decimal | None = None
    window: tuple[int, int] | None = None  # [start, end) in minutes of the UTC day; may wrap
    unknown: tuple[str, ...] = ()  # conditions it has that this code cannot evaluate

    @property
    def timed(self) -> bool:
        return self.window is not None

    @property
    def tiered(self) -> bool:
        return self.min_prompt_tokens is not None

    def applies(self, prompt_tokens: int, minute: int) -> bool:
        if self.unknown:
            return False
        if self.min_prompt_tokens is not None and not prompt_tokens > self.min_prompt_tokens:
            return False
        if self.window is not None:
            start, end = self.window
            if start <= end:
                return start <= minute < end
            return minute >= start or minute < end
        return True


def clock_minutes(value: Any, *, default: int) -> int | None:
    """An HHMM clock number (0..2400) as minutes since midnight; None when it is not one."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    hours, minutes = divmod(int(value), 100)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def _price(value: Any) -> Decimal | None | bool:
    """A price string as a Decimal (None for OpenRouter's "-1", variable); False when it is not a price."""
    price = as_decimal(value)
    if price is None:
        return False
    if price == VARIABLE:
        return None
    return price if price >= 0 else False


def parse_overrides(raw: Any) -> tuple[Override, ...]:
    """`pricing.overrides` as stored (a list of objects, as received) into Override entries, in order."""
    if not isinstance(raw, list):
        return ()
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        unknown = []
        prices = []
        for key, value in entry.items():
            if key in CONDITIONS:
                continue
            price = (
                _price(value) if isinstance(value, str) else False
            )  # prices are strings, conditions numbers
            if price is False:
                unknown.append(key)  # a condition (or a price) this code cannot read
            else:
                prices.append((key, price))
        minimum = None
        if "min_prompt_tokens" in entry:
            minimum = entry["min_prompt_tokens"]
            minimum = _price(minimum) if isinstance(minimum, int | float) else False
            if minimum is False or minimum is None:
                unknown.append("min_prompt_tokens")
                minimum = None
        window = None
        if "utc_start" in entry or "utc_end" in entry:
            start = clock_minutes(entry.get("utc_start"), default=0)
            end = clock_minutes(entry.get("utc_end"), default=MINUTES_PER_DAY)
            if start is None or end is None:
                unknown.append("utc_start/utc_end")
            else:
                window = (start, end)
        out.append(Override(tuple(prices), minimum, window, tuple(unknown)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PriceSchedule:
    """A price version's base prices and its overrides, ready to answer `at(prompt_tokens, moment)`."""

    base: Mapping[str, Decimal | None]
    overrides: tuple[Override, ...] = ()

    @classmethod
    def of(cls, prices: Prices, overrides: Any = ()) -> PriceSchedule:
        parsed = overrides if _parsed(overrides) else parse_overrides(overrides)
        return cls(dict(prices), parsed)

    @property
    def tiered(self) -> bool:
        return any(o.tiered for o in self.overrides)

    @property
    def timed(self) -> bool:
        return any(o.timed for o in self.overrides)

    def at(self, prompt_tokens: int, moment: datetime) -> dict[str, Decimal | None]:
        """The effective prices for a request of `prompt_tokens` (all input, cached included) at `moment`."""
        prices = dict(self.base)
        if not self.overrides:
            return prices
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
        minute = utc.hour * 60 + utc.minute
        for override in self.overrides:
            if override.applies(prompt_tokens, minute):
                prices.update(override.prices)
        return prices


def _parsed(overrides: Any) -> bool:
    return isinstance(overrides, tuple) and all(isinstance(o, Override) for o in overrides)


def effective_prices(
    prices: Prices, overrides: Any, *, prompt_tokens: int, at: datetime
) -> dict[str, Decimal | None]:
    """The prices that apply to one request: the base prices with the matching overrides on top."""
    return PriceSchedule.of(prices, overrides).at(prompt_tokens, at)
