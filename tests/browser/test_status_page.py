"""The status page in Debian's chromium: the latency chart draws one line per probed upstream."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.conftest import log_in
from usage.models import Upstream, UpstreamProbe

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_status_page_shows_states_and_draws_the_latency_chart(live_asgi, page, member):
    openrouter, _ = Upstream.objects.get_or_create(name="openrouter", defaults={"api_key_env": ""})
    local = Upstream.objects.create(name="local", base_url="http://127.0.0.1:9/v1", model_prefix="local/")
    now = timezone.now()
    for i in range(6):
        at = now - timedelta(minutes=5 * (6 - i))
        UpstreamProbe.objects.create(
            upstream=openrouter, checked_at=at, ok=True, http_status=200, latency_ms=100 + i
        )
        UpstreamProbe.objects.create(
            upstream=local, checked_at=at, ok=i % 2 == 0, latency_ms=20 if i % 2 == 0 else None
        )

    log_in(page, live_asgi.url, member.username)
    page.goto(f"{live_asgi.url}/status/")

    page.wait_for_selector("#status-chart[data-drawn='2']")
    drawn = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('status-chart'));
            return {
                sets: chart.data.datasets.map(d => [d.label, d.data.filter(v => v !== null).length]),
                x: chart.options.scales.x.title.text, y: chart.options.scales.y.title.text,
            };
        }"""
    )
    # local failed three of its six probes: a line with gaps, and three crosses
    assert drawn == {
        "sets": [["local", 3], ["openrouter", 6], ["local: failed probe", 3]],  # enabled first, by name
        "x": "Probe time (UTC)",
        "y": "Latency (ms)",
    }
    assert page.get_attribute("#status-chart", "data-failed") == "3"
    assert page.inner_text("tr[data-upstream='openrouter'] .badge") == "up"
    assert page.inner_text("tr[data-upstream='local'] .badge") == "down"
    assert page.inner_text("tr[data-upstream='local'] td:nth-child(6)") == "50.0%"
    assert page.locator("nav a.active").inner_text() == "Status"
