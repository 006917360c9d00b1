"""Browser: the compare calculator's JS (static/js/compare.js) applies the same overrides as the server
(catalog.price_schedule): a tiered model below and above its threshold, a timed model at the page's minute
and, with the page's minute rewritten, inside and outside its windows. The JS figures equal the Python ones."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from catalog.pricing import Scenario, scenario_cost, usd_cost
from catalog.selectors.catalogue import catalogue_models
from tests.browser.conftest import log_in
from tests.dashboard.test_compare_effective_prices import DEEPSEEK, SONNET, build_models

pytestmark = pytest.mark.django_db(transaction=True)
CELLS = "#calculator-results td"


@pytest.fixture
def compare_page(live_asgi, admin_user, page):
    build_models()
    log_in(page, live_asgi.url, "admin")
    return live_asgi.url


def js_costs(page) -> list[str]:
    return page.eval_on_selector_all(CELLS, "cells => cells.map(c => c.textContent)")


def python_costs(minute: int, **scenario) -> list[str]:
    """The server's rule, computed here: each model's effective prices for the input tokens at that minute."""
    moment = datetime(2026, 11, 30, minute // 60, minute % 60, tzinfo=UTC)
    rows = {row.model.model_id: row for row in catalogue_models(model_ids=[SONNET, DEEPSEEK])}
    chosen = Scenario(**scenario)
    return [
        usd_cost(scenario_cost(rows[m].schedule.at(chosen.input_tokens, moment), chosen))
        for m in (SONNET, DEEPSEEK)
    ]


def fill(page, **values) -> None:
    for name, value in values.items():
        page.fill(f"input[name={name}]", str(value))


def test_the_js_calculator_gives_the_servers_figures_below_and_above_the_tier(page, compare_page):
    page.goto(f"{compare_page}/compare/?models={SONNET},{DEEPSEEK}")
    minute = json.loads(page.text_content("#calculator-prices"))["minute"]

    fill(page, input_tokens=250000, output_tokens=1000)
    assert js_costs(page)[0] == "$1.52"  # above 200,000: 6 / 22.5 per M: 1.5225
    assert js_costs(page) == python_costs(minute, input_tokens=250000, output_tokens=1000)
    fill(page, input_tokens=200000)
    assert js_costs(page)[0] == "$0.615"  # at 200,000: the base prices
    assert js_costs(page) == python_costs(minute, input_tokens=200000, output_tokens=1000)
    fill(page, input_tokens=200001, cached_percent=30, cache_write_percent=25, output_tokens=999, reasoning_tokens=333,
         requests=7)  # fmt: skip
    in_js = js_costs(page)
    assert in_js == python_costs(
        minute, input_tokens=200001, cached_percent=30, cache_write_percent=25, output_tokens=999,
        reasoning_tokens=333, requests=7,
    )  # fmt: skip
    fill(page, reasoning_tokens=1000)  # more than the output: refused, as the server refuses it
    assert js_costs(page) == ["—", "—"]
    fill(page, reasoning_tokens=333)

    # what a browser without JS gets: the server's figures for the same inputs
    page.click("fieldset.calculator button[type=submit]")
    page.wait_for_url("**requests=7*")
    assert js_costs(page) == in_js


@pytest.mark.parametrize(
    ("minute", "deepseek"),
    [
        (125, "$1.32"),  # 02:05, in [01:00, 04:00)
        (59, "$0.66"),  # 00:59, in the overnight [10:00, 01:00)
        (60, "$1.32"),  # 01:00: the start is included
        (240, "$0.66"),  # 04:00: the end is excluded
        (599, "$1.32"),  # 09:59, in [06:00, 10:00)
        (600, "$0.66"),  # 10:00: the end is excluded
    ],
)
def test_the_js_applies_time_windows_at_the_pages_minute(page, compare_page, minute, deepseek):
    def at_minute(route):
        body = route.fetch().text()
        route.fulfill(body=re.sub(r'"minute": \d+', f'"minute": {minute}', body), content_type="text/html")

    page.route(re.compile(r"/compare/\?"), at_minute)
    page.goto(f"{compare_page}/compare/?models={SONNET},{DEEPSEEK}")
    fill(page, input_tokens=1000000, output_tokens=0)
    assert js_costs(page)[1] == deepseek  # 1,000,000 × 0.66 or 1.32 per M
    assert js_costs(page) == python_costs(minute, input_tokens=1000000, output_tokens=0)
