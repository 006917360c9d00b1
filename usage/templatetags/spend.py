"""Filters for the spend pages: `{{ cost|money }}` -> "$0.00123", `{{ share|percent }}` -> "12.5%"."""

from __future__ import annotations

from decimal import Decimal

from django import template

from catalog.money import money_text

register = template.Library()


@register.filter
def money(value) -> str:
    """An amount as every page shows money (catalog.money): "$0.0000186", "$16.80"; None is "—"."""
    if value is None or value == "":
        return "—"
    return money_text(value)


@register.filter
def unit_price(value) -> str:
    """A per-token (or per-request) price, exact: "$0.0000025"; None is "variable"."""
    if value is None:
        return "variable"
    text = format(Decimal(value).normalize(), "f")
    return f"${text}"


@register.filter
def per_million(value) -> str:
    if value is None:
        return "variable"
    return f"${format((Decimal(value) * 1_000_000).normalize(), 'f')} / 1M"


@register.filter
def percent(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value) * 100:.{int(digits)}f}%"
