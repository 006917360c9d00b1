"""How every page shows an amount of money (a cost, a spend, a saving, a budget): one rule, mirrored by
static/js/money.js (tests/browser/test_money_js.py feeds both the same cases).

- below $1, three significant digits, trailing zeros dropped down to cents: $0.0000186, $0.0153, $0.50;
- from $1 on, cents with thousands separators: $16.80, $1,234.57;
- rounded half away from zero; zero is $0.00, a negative amount -$0.0153.

Exports (CSV) never use it: they keep the exact Decimal. A leaf: it imports nothing of ours.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
SIGNIFICANT = 3


def money_text(value: Decimal | int | str) -> str:
    """The amount as the pages show it: "$0.0000186", "$0.0153", "$16.80"."""
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount < 1 and amount != 0:
        rounded = amount.quantize(Decimal(1).scaleb(amount.adjusted() - SIGNIFICANT + 1), ROUND_HALF_UP)
        if rounded < 1:
            whole, _, frac = format(rounded, "f").partition(".")
            frac = frac.rstrip("0").ljust(2, "0")
            return f"{sign}${whole}.{frac}"
        amount = rounded  # 0.9996 rounds up to $1.00
    return f"{sign}${amount.quantize(CENT, ROUND_HALF_UP):,.2f}"
