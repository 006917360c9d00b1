"""The home page's figures against the ledger's, for an admin and for a member; /models/ and the spend tables
at 1440 px and on a 390 px phone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from catalog.money import money_text
from tests.browser.conftest import log_in
from tests.catalog.page_factories import sync_snapshot
from tests.usage.spend_data import entry, make_key
from usage.costs import SPENT_COST
from usage.forms import RangeForm
from usage.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture
def traffic(admin_user, member):
    """Requests of an admin's key and a member's over 45 days, some failed, some reported, some computed."""
    ops, alpha = make_key("ops", admin_user), make_key("alpha", member)
    now = timezone.now()
    for minutes, key, reported, computed, status in [
        (5, alpha, "0.0000186", "0.00002", "ok"),
        (7, ops, None, "0.0153", "ok"),
        (9, alpha, None, "0", "error"),
        (60 * 24 * 3, alpha, "0.42", "0.4", "ok"),
        (60 * 24 * 3 + 1, ops, "16.8", "16.8", "ok"),
        (60 * 24 * 10, alpha, "1.25", None, "ok"),
        (60 * 24 * 20, ops, "0.5", "0.5", "rejected"),
        (60 * 24 * 45, alpha, "3", "3", "ok"),
    ]:
        entry(
            now - timedelta(minutes=minutes),
            api_key=key,
            reported_cost=None if reported is None else D(reported),
            computed_cost=None if computed is None else D(computed),
            status=status,
        )
    return {"ops": ops, "alpha": alpha}


def ledger_figures(owner=None) -> dict[str, tuple[str, str]]:
    """What the ledger says for each of the home page's ranges: (spent as the pages show it, requests)."""
    figures = {}
    now = timezone.now()
    for name in ("today", "7d", "30d"):
        form = RangeForm({"range": name})
        assert form.is_valid()
        period = form.period(now)
        rows = LedgerEntry.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
        if owner is not None:
            rows = rows.filter(api_key__owner=owner)
        sums = rows.aggregate(spent=Sum(SPENT_COST), requests=Count("id"))
        figures[name] = (money_text(sums["spent"] or D(0)), str(sums["requests"]))
    return figures


def page_figures(page) -> dict[str, tuple[str, str]]:
    figures = {}
    for name in ("today", "7d", "30d"):
        card = page.locator(f"[data-period='{name}']")
        requests = card.locator("[data-figure=requests]").inner_text().split(" ")[0].replace(",", "")
        figures[name] = (card.locator("[data-figure=cost]").inner_text(), requests)
    return figures


@pytest.mark.parametrize("who", ["admin", "member"])
def test_the_home_figures_are_the_ledgers(live_asgi, page, admin_user, member, traffic, who):
    log_in(page, live_asgi.url, who)
    page.goto(f"{live_asgi.url}/")

    expected = ledger_figures(owner=None if who == "admin" else member)
    assert page_figures(page) == expected
    assert expected["30d"] == (("$18.99", "7") if who == "admin" else ("$1.67", "4"))
    keys = page.locator("#home-keys tr td:first-child").all_inner_texts()
    assert [label.split(" ")[0] for label in keys] == (["ops", "alpha"] if who == "admin" else ["alpha"])
    page.click("[data-period='7d'] [data-figure=cost]")
    page.wait_for_url("**/spend/?range=7d")
    assert page.locator("#total-cost").inner_text() == expected["7d"][0]


@pytest.fixture
def snapshot(live_asgi, admin_user):
    sync_snapshot()
    return live_asgi


NO_SIDEWAYS_SCROLL = """() => [document.documentElement.scrollWidth - document.documentElement.clientWidth,
  ...[...document.querySelectorAll('.table-wrap')].map((w) => w.scrollWidth - w.clientWidth)]"""


def test_the_models_table_fits_1440_px_and_keeps_its_prices_on_a_phone(browser, snapshot):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    log_in(page, snapshot.url, "admin")
    page.goto(f"{snapshot.url}/models/")
    assert page.locator("#catalog-table tbody tr").count() > 400
    assert page.evaluate(NO_SIDEWAYS_SCROLL) == [0, 0]
    heights = page.eval_on_selector_all(
        "#catalog-table tbody tr", "rows => rows.map((r) => r.getBoundingClientRect().height)"
    )
    assert sorted(heights)[len(heights) // 2] < 60  # compact: most rows are two lines

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{snapshot.url}/models/?q=gpt-4o")
    assert page.evaluate(NO_SIDEWAYS_SCROLL) == [0, 0]
    first = page.locator("#catalog-table tbody tr").first
    assert first.get_attribute("data-model") == "openai/gpt-4o"
    prices = first.locator("td.num:visible")
    assert prices.all_inner_texts() == ["$2.50", "$10.00"]
    for index in range(2):
        box = prices.nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    context.close()


def test_the_spend_tables_keep_the_spent_column_on_a_phone(browser, live_asgi, admin_user, traffic):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, live_asgi.url, "admin")
    page.goto(f"{live_asgi.url}/spend/?range=30d")
    table = page.locator("table.spend-group").first
    assert table.locator("th:visible").all_inner_texts() == ["Model", "Spent"]
    spent = table.locator("td.spent").first
    box = spent.bounding_box()
    assert box["x"] + box["width"] <= 390
    assert spent.inner_text().startswith("$")
    context.close()


def test_the_spend_charts_tooltip_shows_money_as_the_pages_do(live_asgi, page, member, traffic):
    log_in(page, live_asgi.url, "member")
    page.goto(f"{live_asgi.url}/spend/?range=30d")
    page.wait_for_function("() => document.getElementById('spend-chart').dataset.drawn !== '0'")

    labels = page.evaluate(
        """() => {
          const chart = Chart.getChart(document.getElementById('spend-chart'));
          const label = chart.options.plugins.tooltip.callbacks.label;
          return chart.data.datasets.flatMap((set, datasetIndex) => set.data.map((value, dataIndex) =>
            value ? label.call(chart.tooltip, {dataset: set, datasetIndex, dataIndex, raw: value}) : null
          ).filter(Boolean));
        }"""
    )
    # The member's days: $0.0000186 today (and a failed request at 0), $0.42, $1.25.
    assert sorted(labels) == ["openai/gpt-4o: $0.0000186", "openai/gpt-4o: $0.42", "openai/gpt-4o: $1.25"]
