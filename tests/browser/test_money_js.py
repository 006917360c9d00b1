"""static/js/money.js in chromium gives catalog/money.py's answers on the same cases, and reads decimal
strings exactly (the one parser the playground and the compare calculator share)."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import pytest

from catalog.money import money_text
from tests.money_cases import MONEY_CASES

MONEY_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "money.js"


@pytest.fixture
def money_page(page):
    page.goto("about:blank")
    source = base64.b64encode(MONEY_JS.read_bytes()).decode()
    page.add_script_tag(
        type="module",
        content=f"import * as m from 'data:text/javascript;base64,{source}'; window.Money = m;",
    )
    page.wait_for_function("() => window.Money !== undefined")
    return page


def test_money_shows_every_amount_as_the_python_formatter_does(money_page):
    amounts = [amount for amount, _ in MONEY_CASES]
    in_js = money_page.evaluate("amounts => amounts.map((a) => Money.money(a))", amounts)

    assert in_js == [shown for _, shown in MONEY_CASES]
    assert in_js == [money_text(Decimal(amount)) for amount in amounts]
    assert money_page.evaluate("() => [Money.money(null), Money.money('')]") == ["n/a", "n/a"]


def test_decimal_strings_go_to_exact_units_and_back(money_page):
    result = money_page.evaluate(
        """() => [
            Money.fromUnits(Money.toUnits("-0.0057")),
            Money.fromUnits(Money.toUnits("0.000000000000000001") * 3n),
            Money.toUnits("abc"), Money.toUnits("."), Money.toUnits(null),
            Money.fromUnits(150n, 20),
            String(Money.toUnits("2.5")),
        ]"""
    )
    assert result == [
        "-0.0057",
        "0.000000000000000003",
        None,
        None,
        None,
        "0.0000000000000000015",
        "2500000000000000000",
    ]
