"""catalog.money: how every page shows an amount (the JS twin is tested on the same cases in
tests/browser/test_money_js.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.money import money_text
from tests.money_cases import MONEY_CASES
from usage.templatetags.spend import money


@pytest.mark.parametrize(("amount", "shown"), MONEY_CASES)
def test_below_a_dollar_three_significant_digits_from_a_dollar_cents(amount, shown):
    assert money_text(Decimal(amount)) == shown


def test_the_template_filter_is_the_same_rule_and_shows_nothing_known_as_a_dash():
    assert money(Decimal("0.0000186")) == "$0.0000186"
    assert money(None) == "—"
