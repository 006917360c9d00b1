"""Filters for the spend pages: `{{ cost|money }}` -> "$0.001234", `{{ share|percent }}` -> "12.5%"."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()


@register.filter
def money(value, digits: int = 6) -> str:
    """A cost to the micro-dollar (or to `digits` places: budgets to the cent); None is "—"."""
    if value is None or value == "":
        return "—"
    digits = int(digits)
    value = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


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
