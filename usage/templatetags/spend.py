"""Filters for the spend and activity pages: `{{ cost|money }}` -> "$0.00123", `{{ share|percent }}` ->
"12.5%", `{{ share|change }}` -> "▲ 43.0%", "▲ ×12", `{{ entry.latency_ms|duration }}` -> "850 ms",
"1.2 s"."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

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


TENFOLD = Decimal(10)


@register.filter
def change(share) -> str:
    """A change against a period before, given as a share (0.43 is +43%): "▲ 43.0%", "▼ 35.4%", "0.0%".

    From tenfold on (a share of 9, +900%, or more) it is the multiple instead, to the nearest whole (halves
    up): "▲ ×10", "▲ ×24,419", where a percentage would read "▲ 2441838.4%" against a tiny amount before.
    A fall is at most 100%, so it is always a percentage. None (nothing before to compare with) is "—".
    """
    if share is None or share == "":
        return "—"
    share = Decimal(share)
    arrow = "▲ " if share > 0 else "▼ " if share < 0 else ""
    multiple = share + 1
    if multiple >= TENFOLD:
        return f"{arrow}×{multiple.quantize(Decimal(1), ROUND_HALF_UP):,}"
    return f"{arrow}{percent(abs(share))}"


@register.filter
def duration(millis) -> str:
    """A time in milliseconds as a person reads it: "850 ms" below a second, "1.2 s", "49.2 s", "3,600.0 s"
    from one on (to a tenth, halves up); None is "—"."""
    if millis is None or millis == "":
        return "—"
    if millis < 1000:
        return f"{millis} ms"
    seconds = (Decimal(millis) / 1000).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{seconds:,} s"
