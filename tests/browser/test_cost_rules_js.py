"""The cost rules the pages' JS shares (static/js/costs.js) give the answers of their Python functions
(usage/costs.py) on the same cases: chromium runs the script, Python runs the rule."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from usage.costs import spent_cost

COSTS_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "costs.js"

# (reported, computed) as the pages send them: decimal strings, or None when unknown.
SPENT_CASES = [
    (None, None),
    (None, "0.0005"),
    ("0.002", "0.001"),
    ("0", "0.3"),  # a reported 0 is a cost: it wins
    ("0.0057", None),
    ("0.000000000000000001", "1"),
    (None, "0"),
]


def decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@pytest.fixture
def costs_page(page):
    page.goto("about:blank")
    page.add_script_tag(path=str(COSTS_JS))
    return page


def test_spent_cost_is_the_reported_cost_else_the_computed_one_in_python_and_in_js(costs_page):
    in_js = costs_page.evaluate(
        "cases => cases.map(([reported, computed]) => TokenledgerCosts.spentCost(reported, computed))",
        SPENT_CASES,
    )
    in_python = [spent_cost(decimal(reported), decimal(computed)) for reported, computed in SPENT_CASES]

    assert [decimal(value) for value in in_js] == in_python
    assert in_js == [None, "0.0005", "0.002", "0", "0.0057", "0.000000000000000001", "0"]
