"""The price arithmetic behind the pages (catalog/pricing.py): exact Decimals, stated rounding."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from catalog.pricing import Scenario, Usage, per_million, scenario_cost, usage_cost, usd, usd_cost, usd_per_m

PRICES = {"prompt": D("0.000003"), "completion": D("0.000015"), "input_cache_read": D("0.0000003")}


@pytest.mark.parametrize(
    ("per_token", "shown"),
    [
        ("0.0000025", "$2.50"),
        ("0.000000108", "$0.108"),
        ("0.00001", "$10.00"),
        ("0", "$0.00"),
        ("0.000002500000000000", "$2.50"),
        ("0.000075", "$75.00"),
    ],
)
def test_per_million_prices_have_no_float_noise(per_token, shown):
    assert usd(per_million(D(per_token))) == shown


def test_a_variable_price_is_shown_as_variable():
    assert usd(per_million(None)) == "variable"
    assert usd_cost(None) == "variable"


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        ("0.0000015", "$0.0000015"),
        ("0.0000014999", "$0.0000015"),
        ("0.00000149449", "$0.00000149"),
        ("0.12150000", "$0.122"),
        ("0.12149", "$0.121"),
        ("12", "$12.00"),
        ("12.345", "$12.35"),
    ],
)
def test_costs_are_shown_like_all_money_three_significant_digits_below_a_dollar_then_cents(cost, shown):
    assert usd_cost(D(cost)) == shown


def test_scenario_cost_is_exact():
    scenario = Scenario(
        input_tokens=1000, output_tokens=500, cached_percent=50, reasoning_tokens=200, requests=10
    )
    # reasoning is part of the output: 500 × 3e-6 + 500 × 3e-7 + 300 × 15e-6 + 200 × 15e-6, times 10
    assert scenario_cost(PRICES, scenario) == D("0.0915")


def test_scenario_cost_bills_reasoning_inside_output_and_cache_writes_at_their_price():
    prices = {**PRICES, "input_cache_write": D("0.00000375"), "internal_reasoning": D("0.00002")}
    scenario = Scenario(
        input_tokens=1000, output_tokens=500, cached_percent=30, cache_write_percent=20, reasoning_tokens=200
    )
    # 500 × 3e-6 + 300 × 3e-7 + 200 × 3.75e-6 + 300 × 15e-6 + 200 × 2e-5
    assert scenario_cost(prices, scenario) == D("0.01084")


def test_a_third_cached_share_stays_exact():
    scenario = Scenario(input_tokens=3, output_tokens=0, cached_percent=33, requests=1)
    # 3 × 0.67 × 3e-6 + 3 × 0.33 × 3e-7
    assert scenario_cost(PRICES, scenario) == D("0.000006327")


def test_scenario_cost_of_a_variable_price_is_unknown():
    assert scenario_cost({"prompt": None, "completion": None}, Scenario()) is None


def test_usage_cost_bills_each_token_category_at_its_own_price():
    prices = {
        **PRICES,
        "input_cache_write": D("0.00000375"),
        "internal_reasoning": D("0.00002"),
        "request": D("0.001"),
    }
    usage = Usage(
        input_tokens=10,
        cached_tokens=4,
        cache_write_tokens=1,
        output_tokens=2,
        reasoning_tokens=3,
        requests=2,
    )
    # 5 × 3e-6 + 4 × 3e-7 + 1 × 3.75e-6 + 2 × 15e-6 + 3 × 2e-5 + 2 × 0.001
    assert usage_cost(prices, usage) == D("0.00210995")


def test_per_million_prices_are_shown_to_the_micro_dollar():
    assert usd_per_m(D("0.0000000833333333333")) == "$0.083333"
    assert usd_per_m(D("0.000000108")) == "$0.108"
    assert usd_per_m(None) == "variable"
