"""Browser: a model's price chart sits on a time axis that fits its data; "Refresh providers" shows its
progress and its result next to the button; "Open in playground" picks the model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.conftest import log_in
from tests.catalog.page_factories import make_model
from tests.catalog.test_provider_endpoints import EndpointsServer
from tests.conftest import LiveASGIServer

pytestmark = pytest.mark.django_db(transaction=True)

DAY = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

AXIS = """() => {
    const chart = Chart.getChart(document.getElementById('price-chart'));
    const x = chart.scales.x;
    return {type: x.type, min: x.min, max: x.max, labels: x.ticks.map(t => t.label),
            y: chart.scales.y.ticks.map(t => t.label)};
}"""


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def axis_of(page, base: str, model_id: str) -> dict:
    page.goto(f"{base}/models/{model_id}/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('price-chart'))")
    return page.evaluate(AXIS)


def test_the_price_chart_axis_fits_its_data(browser, page, live_asgi, admin_user):
    # one version, seen for a day: no axis of years
    make_model("one/version", prices=[(DAY, {"prompt": "0.000001", "completion": "0.000002"})], last_seen=DAY)
    # two versions on one day, then seen ten days later
    make_model(
        "two/same-day",
        prices=[
            (DAY, {"prompt": "0.000001", "completion": "0.000002"}),
            (DAY + timedelta(hours=6), {"prompt": "0.0000015", "completion": "0.000003"}),
        ],
        last_seen=DAY + timedelta(hours=12),
    )
    make_model(
        "long/history",
        prices=[
            (DAY, {"prompt": "0.000001", "completion": "0.000002"}),
            (DAY + timedelta(days=40), {"prompt": "0.0000005", "completion": "0.000001"}),
        ],
        last_seen=DAY + timedelta(days=90),
    )
    base = live_asgi.url
    log_in(page, base, "admin")

    one = axis_of(page, base, "one/version")
    assert one["type"] == "time"
    assert (one["min"], one["max"]) == (ms(DAY) - DAY_MS, ms(DAY) + DAY_MS)
    assert one["labels"] == [
        "Feb 28 09:00", "Feb 28 16:00", "Feb 28 23:00", "Mar 1 06:00", "Mar 1 13:00", "Mar 1 20:00",
        "Mar 2 03:00",
    ]  # fmt: skip

    same_day = axis_of(page, base, "two/same-day")
    assert (same_day["min"], same_day["max"]) == (ms(DAY), ms(DAY) + 12 * HOUR_MS)
    assert same_day["labels"] == [
        "Mar 1 09:00", "Mar 1 11:00", "Mar 1 13:00", "Mar 1 15:00", "Mar 1 17:00", "Mar 1 19:00", "Mar 1 21:00",
    ]  # fmt: skip
    assert same_day["y"] == ["$0.00", "$0.50", "$1.00", "$1.50", "$2.00", "$2.50", "$3.00"]

    long = axis_of(page, base, "long/history")
    assert (long["min"], long["max"]) == (ms(DAY), ms(DAY) + 90 * DAY_MS)
    assert long["labels"] == ["Mar 2", "Mar 14", "Mar 26", "Apr 7", "Apr 19", "May 1", "May 13", "May 25"]
    assert long["y"][:3] == ["$0.00", "$0.20", "$0.40"]

    # in another time zone the labels still read UTC, as the versions table does
    context = browser.new_context(timezone_id="America/New_York")
    elsewhere = context.new_page()
    log_in(elsewhere, base, "admin")
    assert axis_of(elsewhere, base, "two/same-day")["labels"] == same_day["labels"]
    context.close()


class SlowEndpoints(EndpointsServer):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await asyncio.sleep(0.8)
        await super().__call__(scope, receive, send)


def test_refresh_providers_shows_progress_then_the_result_beside_the_button(
    page, live_asgi, admin_user, settings
):
    upstream = LiveASGIServer(SlowEndpoints(), lifespan="off").start()
    settings.OPENROUTER_BASE_URL = f"{upstream.url}/api/v1"
    try:
        make_model("meta-llama/llama-3.3-70b-instruct")
        base = live_asgi.url
        log_in(page, base, "admin")
        page.goto(f"{base}/models/meta-llama/llama-3.3-70b-instruct/")
        assert page.inner_text("#providers-body") == "No provider endpoints fetched yet."
        page.click("#providers-refresh button")
        assert page.inner_text("#providers-refresh-status") == "Refreshing providers from OpenRouter…"
        assert page.is_disabled("#providers-refresh button")
        page.wait_for_function(
            "() => document.getElementById('providers-refresh-status').textContent.startsWith('Providers')"
        )
        assert page.inner_text("#providers-refresh-status") == "Providers refreshed: 2 endpoint(s)."
        assert not page.is_disabled("#providers-refresh button")
        rows = page.eval_on_selector_all(
            "#providers-table tbody tr", "rows => rows.map(r => r.dataset.provider)"
        )
        assert rows == ["DeepInfra", "Groq"]
        assert page.url == f"{base}/models/meta-llama/llama-3.3-70b-instruct/"  # no reload
    finally:
        upstream.stop()


def test_open_in_playground_picks_the_model(page, live_asgi, admin_user):
    make_model("alpha/first", name="Alpha First")
    make_model("zeta/chosen", name="Zeta Chosen")
    base = live_asgi.url
    log_in(page, base, "admin")
    page.goto(f"{base}/models/zeta/chosen/")
    page.click("#open-playground")
    page.wait_for_url(f"{base}/playground/?model=zeta/chosen")
    page.wait_for_function("() => document.querySelector('select.pg-model').value === 'zeta/chosen'")
    assert page.input_value("select.pg-model") == "zeta/chosen"
