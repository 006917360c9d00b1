"""Browser: filter and sort the catalogue, go back, open a model's chart, compare two models with the calculator."""

from __future__ import annotations

import pytest

from catalog.selectors.catalogue import CatalogueFilters, models_for_catalogue
from tests.browser.conftest import log_in
from tests.catalog.page_factories import SNAPSHOTS, sync_snapshot

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = "#catalog-table tbody tr"


def expected_ids(**filters) -> list[str]:
    return [row.model.model_id for row in models_for_catalogue(filters=CatalogueFilters(**filters)).rows]


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all(ROWS, "rows => rows.map(r => r.dataset.model)")


@pytest.fixture
def catalogue(live_asgi, admin_user):
    """Three real snapshots synced in date order: 414 current models, real price histories."""
    for name, at in SNAPSHOTS[3:]:
        sync_snapshot(name, at=at)
    return live_asgi


def test_filter_sort_and_go_back_in_the_catalogue(page, catalogue):
    base = catalogue.url
    log_in(page, base, "admin")
    page.goto(f"{base}/models/")
    assert page.locator(ROWS).count() == 414

    page.fill("input[name=q]", "gpt")
    page.select_option("select[name=author]", "openai")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/models/?*q=gpt*")
    wanted = expected_ids(q="gpt", author="openai")
    assert 5 < len(wanted) < 100
    assert shown_ids(page) == wanted
    assert page.inner_text("#match-count") == f"{len(wanted)} of 414 models match"

    page.click("a[data-sort=input]")
    page.wait_for_url("**sort=input*")
    assert shown_ids(page) == expected_ids(q="gpt", author="openai", sort="input")
    page.click("a[data-sort=input]")
    page.wait_for_url("**sort=-input*")
    by_price_desc = expected_ids(q="gpt", author="openai", sort="-input")
    assert shown_ids(page) == by_price_desc
    assert by_price_desc != wanted

    page.go_back()
    page.wait_for_url("**sort=input*")
    assert shown_ids(page) == expected_ids(q="gpt", author="openai", sort="input")
    assert page.input_value("input[name=q]") == "gpt"

    page.fill("input[name=q]", "no-model-is-called-this")
    page.click("#filters button[type=submit]")
    assert page.inner_text("#no-match").startswith("No model matches these filters.")
    page.click("#no-match a")
    page.wait_for_url(f"{base}/models/")
    assert page.locator(ROWS).count() == 414

    # a narrow screen: the page does not scroll sideways (the table scrolls in its own box)
    page.set_viewport_size({"width": 390, "height": 800})
    for path in ("/models/", "/compare/?models=openai/gpt-4o,anthropic/claude-sonnet-4"):
        page.goto(f"{base}{path}")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), path


def test_a_models_page_draws_its_price_history(page, catalogue):
    base = catalogue.url
    outside = []
    page.route(  # offline: nothing but the app itself is ever fetched
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(base)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    log_in(page, base, "admin")
    page.goto(f"{base}/models/?q=llama-3.3-70b-instruct")
    page.click("#catalog-table a:has-text('Llama 3.3 70B Instruct')")
    page.wait_for_url(f"{base}/models/meta-llama/llama-3.3-70b-instruct/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('price-chart'))")
    drawn = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('price-chart'));
            return chart.data.datasets.map((d, i) => ({
                label: d.label, points: chart.getDatasetMeta(i).data.length, ys: d.data.map(p => p.y)}));
        }"""
    )
    # repriced on 2026-04-21 and 2026-05-01, still listed on 2026-08-19: two versions and the last sighting
    assert drawn == [
        {"label": "Input", "points": 3, "ys": [0.12, 0.1, 0.1]},
        {"label": "Output", "points": 3, "ys": [0.38, 0.32, 0.32]},
    ]
    assert outside == []
    # the canvas really has ink on it
    assert page.evaluate(
        """() => {
            const c = document.getElementById('price-chart');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
            return false;
        }"""
    )


def test_compare_two_models_and_use_the_calculator(page, catalogue):
    base = catalogue.url
    log_in(page, base, "admin")
    page.goto(f"{base}/models/")
    page.check("input[name=models][value='openai/gpt-4o']")
    page.check("input[name=models][value='anthropic/claude-sonnet-4']")
    page.click("#compare-form button[type=submit]")
    page.wait_for_url("**/compare/?models=*")
    order = page.eval_on_selector_all(
        "#calculator-results thead th", "cells => cells.map(c => c.textContent.trim())"
    )
    assert sorted(order) == ["anthropic/claude-sonnet-4", "openai/gpt-4o"]

    def costs() -> dict[str, str]:
        cells = page.eval_on_selector_all("#calculator-results td", "cells => cells.map(c => c.textContent)")
        return dict(zip(order, cells, strict=True))

    def cheapest() -> list[str]:
        flags = page.eval_on_selector_all(
            "#calculator-results td", "cells => cells.map(c => c.classList.contains('cheapest'))"
        )
        return [model for model, flag in zip(order, flags, strict=True) if flag]

    # defaults: 1000 in, 500 out
    assert costs() == {"openai/gpt-4o": "$0.0075", "anthropic/claude-sonnet-4": "$0.0105"}
    page.fill("input[name=input_tokens]", "2000")
    assert costs() == {"openai/gpt-4o": "$0.01", "anthropic/claude-sonnet-4": "$0.0135"}
    page.fill("input[name=cached_percent]", "50")
    # gpt-4o: 1000 × $2.50 + 1000 × $1.25 + 500 × $10 per 1M; sonnet: 1000 × $3 + 1000 × $0.30 + 500 × $15
    assert costs() == {"openai/gpt-4o": "$0.00875", "anthropic/claude-sonnet-4": "$0.0108"}
    page.fill("input[name=requests]", "3")
    assert costs() == {"openai/gpt-4o": "$0.0263", "anthropic/claude-sonnet-4": "$0.0324"}
    assert cheapest() == ["openai/gpt-4o"]
    page.fill("input[name=cached_percent]", "100")
    page.fill("input[name=output_tokens]", "0")
    # all cached: gpt-4o 2000 × $1.25 = $0.0025 × 3; sonnet 2000 × $0.30 = $0.0006 × 3
    assert costs() == {"openai/gpt-4o": "$0.0075", "anthropic/claude-sonnet-4": "$0.0018"}
    assert cheapest() == ["anthropic/claude-sonnet-4"]
    page.fill("input[name=requests]", "")
    assert costs() == {"openai/gpt-4o": "—", "anthropic/claude-sonnet-4": "—"}
    page.fill("input[name=requests]", "3")

    # the same figures from the server when the form is submitted (what a browser without JS gets)
    page.click("fieldset.calculator button[type=submit]")
    page.wait_for_url("**requests=3*")
    assert costs() == {"openai/gpt-4o": "$0.0075", "anthropic/claude-sonnet-4": "$0.0018"}
