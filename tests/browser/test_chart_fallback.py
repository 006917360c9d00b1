"""Charts without JavaScript, in Debian's chromium: with scripting off, a note and a table of the chart's
figures stand in its place (the empty chart box hidden); with scripting on, only the chart shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import log_in
from tests.catalog.page_factories import make_model as make_catalogue_model
from tests.usage.spend_data import entry, make_key, make_model
from usage.models import Upstream, UpstreamProbe

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal

NOTE = "Charts need JavaScript; the table below has the same figures."
PRICED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ROWS = "rows => rows.map(row => [...row.cells].map(cell => cell.textContent.trim()))"


@pytest.fixture
def pages(admin_user):
    """Three days of spend (a custom range: charted per day), a model's price history, a probed upstream."""
    first = timezone.now().date() - timedelta(days=5)
    midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
    _, gpt = make_model("openai/gpt-4o", prompt=D("0.0000025"), completion=D("0.00001"))
    _, claude = make_model("anthropic/claude-sonnet-4", prompt=D("0.000003"), completion=D("0.000015"))
    key = make_key("alpha", admin_user)
    for hours, version, provider, cost in [
        (10, gpt, "OpenAI", D("0.00035")),
        (11, gpt, "OpenAI", D("0.00035")),
        (24 + 15, claude, "Anthropic", D("1.25")),
    ]:
        model = version.catalog_model.model_id
        at = midnight + timedelta(hours=hours)
        entry(at, api_key=key, version=version, model=model, provider=provider, reported_cost=cost)
    make_catalogue_model(
        "delta/chat",
        last_seen=PRICED + timedelta(days=10),
        prices=[
            (PRICED, {"prompt": "0.000000108", "completion": "0.00000032"}),
            (PRICED + timedelta(days=4), {"prompt": "0.0000025", "completion": "0.000015"}),
        ],
    )
    upstream, _ = Upstream.objects.get_or_create(name="openrouter", defaults={"api_key_env": ""})
    UpstreamProbe.objects.create(
        upstream=upstream, checked_at=PRICED, ok=True, http_status=200, latency_ms=87
    )
    last = first + timedelta(days=2)
    days = [str(first + timedelta(days=n)) for n in range(3)]
    return {
        "spend": f"/spend/?range=custom&start={first}&end={last}",
        "spend rows": [
            ["Day (UTC)", "anthropic/claude-sonnet-4", "openai/gpt-4o"],
            [days[0], "$0.00", "$0.0007"],
            [days[1], "$1.25", "$0.00"],
            [days[2], "$0.00", "$0.00"],
        ],
        "model": "/models/delta/chat/",
        "model rows": [
            ["Date (UTC)", "Input /1M", "Output /1M"],
            ["2026-03-01 09:00", "$0.108", "$0.32"],
            ["2026-03-05 09:00", "$2.50", "$15.00"],
            ["2026-03-11 09:00", "$2.50", "$15.00"],
        ],
    }


def test_without_javascript_a_note_and_the_charts_figures_stand_in(browser, live_asgi, pages):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, live_asgi.url, "admin")
    for path, chart, rows in [
        (pages["spend"], "spend-chart", pages["spend rows"]),
        (pages["model"], "price-chart", pages["model rows"]),
        ("/status/", "status-chart", [["Probe time (UTC)", "openrouter"], ["2026-03-01 09:00:00", "87 ms"]]),
    ]:
        page.goto(live_asgi.url + path)
        fallback = page.locator(f"#{chart}-table")
        assert fallback.locator(".note").inner_text() == NOTE, path
        assert fallback.locator(".note").is_visible(), path
        assert fallback.locator("table").is_visible(), path
        assert fallback.locator("tr").evaluate_all(ROWS) == rows, path
        assert page.locator(f".chart-box:has(#{chart})").is_hidden(), path  # no empty box above the note
    context.close()


def test_with_javascript_only_the_chart_shows(live_asgi, page, pages):
    log_in(page, live_asgi.url, "admin")
    for path, chart in [(pages["spend"], "spend-chart"), (pages["model"], "price-chart")]:
        page.goto(live_asgi.url + path)
        page.wait_for_function(f"() => window.Chart && Chart.getChart(document.getElementById('{chart}'))")
        assert page.locator(f".chart-box:has(#{chart})").is_visible(), path
        assert page.locator(f"#{chart}-table").count() == 0, path  # <noscript> is not parsed as markup
        assert "Charts need JavaScript" not in page.locator("main").inner_text(), path
