"""What an alert rule sees for one subject (the type every rule's selector returns), and the formatting their
messages share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from catalog.pricing import usd

CENT = Decimal("0.01")
TENTH = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule's condition for one subject. `holds`: True (the condition is on), False (off: an active one
    resolves), None (no change either way). `rank` orders levels: a higher one while on alerts again."""

    subject: str
    holds: bool | None
    title: str = ""
    text: str = ""
    rank: int = 0
    api_key_id: int | None = None
    # Builds (title, text) when an alert is raised: most observations raise none, and a rule over a thousand
    # keys need not format a thousand messages each minute.
    describe: Callable[[], tuple[str, str]] | None = None

    def message(self) -> tuple[str, str]:
        return self.describe() if self.describe is not None else (self.title, self.text)


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def money(value: Decimal) -> str:
    """Dollars to the cent: "$41.00"."""
    return usd(value.quantize(CENT, rounding=ROUND_HALF_UP))


def percent(share: Decimal) -> str:
    return f"{share.quantize(TENTH, rounding=ROUND_HALF_UP)}%"


def number(value: Decimal) -> str:
    """A rule's setting as typed: 3 -> "3", 2.5 -> "2.5"."""
    return f"{value.normalize():f}"
