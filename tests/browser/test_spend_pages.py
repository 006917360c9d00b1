"""Spend, activity and keys pages in Debian's chromium: range change redraws the chart, CSV download,
activity filter + pagination + detail, key creation shows the secret once."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import log_in
from tests.usage.spend_data import entry, make_key, make_model
from usage.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture
def traffic(admin_user, member):
    _, gpt = make_model("openai/gpt-4o", prompt=D("0.0000025"), completion=D("0.00001"))
    key = make_key("alpha", member)
    now = timezone.now()
    rows = [
        LedgerEntry(
            api_key=key,
            created_at=now - timedelta(minutes=5 + i),
            requested_model="openai/gpt-4o",
            served_model="openai/gpt-4o",
            provider="OpenAI",
            http_status=200,
            status="ok",
            prompt_tokens=100,
            completion_tokens=10,
            computed_cost=D("0.00035"),
            reported_cost=D("0.00035"),
            price_version=gpt,
        )
        for i in range(60)
    ]
    LedgerEntry.objects.bulk_create(rows)
    failed = entry(now - timedelta(days=3), api_key=key, version=gpt, provider="Azure", status="error",
                   error_code="502", error_message="Provider returned error", generation_id="gen-broken")  # fmt: skip
    return {"key": key, "failed": failed}


def test_changing_the_range_redraws_the_chart_and_a_table_downloads_as_csv(
    live_asgi, page, admin_user, traffic
):
    log_in(page, live_asgi.url, "admin")
    page.goto(f"{live_asgi.url}/spend/?range=7d")
    page.wait_for_function("() => document.getElementById('spend-chart').dataset.drawn !== '0'")
    # Days with traffic, today included; the oldest, partial day may have none late in the evening.
    assert int(page.locator("#spend-chart").get_attribute("data-drawn")) in (7, 8)
    assert page.locator("#total-cost").inner_text() == "$0.021"
    y_axis = page.evaluate(
        "() => Chart.getChart(document.getElementById('spend-chart')).scales.y.ticks.map(t => t.label)"
    )
    # money on the axis as on every page: ['$0.00', '$0.005', '$0.01', '$0.015', '$0.02', '$0.025'] when the
    # hour of traffic falls on one day
    assert y_axis[0] == "$0.00" and len(y_axis) > 3
    assert all(re.fullmatch(r"\$0\.\d{2,3}", label) for label in y_axis), y_axis

    page.check("input[name=range][value='30d']")
    page.wait_for_url("**/spend/?range=30d*")
    page.wait_for_function("() => document.getElementById('spend-chart').dataset.drawn !== '0'")
    assert int(page.locator("#spend-chart").get_attribute("data-drawn")) in (30, 31)
    assert page.locator("#total-cost").inner_text() == "$0.021"

    with page.expect_download() as download_info:
        page.locator("a[href^='/spend/export/model.csv']").click()
    path = download_info.value.path()
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert lines[0].startswith("model,requests,failed,")
    assert lines[1].startswith("openai/gpt-4o,61,1,")


def test_the_activity_log_filters_pages_and_opens_a_request(live_asgi, page, member, traffic):
    log_in(page, live_asgi.url, "member")
    page.goto(f"{live_asgi.url}/activity/")
    assert page.locator("#activity-table tbody tr").count() == 50

    page.click("a[rel=next]")
    page.wait_for_url("**before=*")
    assert page.locator("#activity-table tbody tr").count() == 11
    page.click("a[rel=prev]")
    page.wait_for_url("**after=*")
    assert page.locator("#activity-table tbody tr").count() == 50

    page.goto(f"{live_asgi.url}/activity/")
    page.select_option("select[name=status]", "error")
    page.click("#activity-filters button[type=submit]")
    page.wait_for_url("**status=error*")
    assert page.locator("#activity-table tbody tr").count() == 1
    page.locator("#activity-table tbody tr a").first.click()
    page.wait_for_url(f"**/activity/{traffic['failed'].id}/")
    assert "gen-broken" in page.content()
    assert "Provider returned error" in page.content()


def test_a_new_key_shows_its_secret_once(live_asgi, page, member, traffic):
    log_in(page, live_asgi.url, "member")
    page.goto(f"{live_asgi.url}/keys/")
    assert page.locator("#keys-table tbody tr").count() == 1

    page.fill("#key-create input[name=name]", "browser key")
    page.fill("#key-create input[name=budget_usd]", "5")
    page.click("#key-create button[type=submit]")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("tl-")
    assert page.locator("#keys-table tbody tr").count() == 2

    page.goto(f"{live_asgi.url}/keys/")
    assert page.locator("#new-secret").count() == 0
    assert secret not in page.content()
