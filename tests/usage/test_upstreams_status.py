"""The /status/ page: each upstream up or down, latest latency, uptime over the kept probes, chart data."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from usage.models import Upstream, UpstreamProbe

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def probe(upstream, minutes, ok, ms=None, status=200, error=""):
    UpstreamProbe.objects.create(
        upstream=upstream,
        checked_at=T0 + timedelta(minutes=minutes),
        ok=ok,
        http_status=status,
        latency_ms=ms,
        error=error,
    )


@pytest.fixture
def probed(settings):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    openrouter = Upstream.objects.get(name="openrouter")
    local = Upstream.objects.create(name="local", base_url="http://127.0.0.1:8001/v1", model_prefix="local/")
    Upstream.objects.create(
        name="spare", base_url="http://spare.example/v1", model_prefix="spare/", enabled=False
    )
    probe(openrouter, 0, True, 120)
    probe(openrouter, 5, False, None, 502, "HTTP 502 Bad Gateway")
    probe(openrouter, 10, True, 95)
    probe(local, 10, False, None, None, "cannot connect: ConnectError")
    return openrouter, local


def test_it_needs_a_login(client):
    response = client.get("/status/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_shows_each_upstreams_state_latency_and_uptime(client, member, probed):
    client.force_login(member)
    response = client.get("/status/")
    assert response.status_code == 200
    rows = {row.name: row for row in response.context["rows"]}
    assert [name for name in rows] == ["local", "openrouter", "spare"]
    openrouter, local, spare = rows["openrouter"], rows["local"], rows["spare"]
    assert (openrouter.state, openrouter.latency_ms, openrouter.uptime_percent, openrouter.probes) == (
        "up",
        95,
        Decimal("66.7"),
        3,
    )
    assert openrouter.base_url == "https://openrouter.example/api/v1"
    assert (local.state, local.latency_ms, local.uptime_percent, local.error) == (
        "down",
        None,
        Decimal("0.0"),
        "cannot connect: ConnectError",
    )
    assert (spare.state, spare.probes, spare.uptime_percent) == ("disabled", 0, None)
    html = response.content.decode()
    assert '<tr data-upstream="openrouter" data-state="up">' in html
    assert "66.7%" in html
    assert '<a href="/status/" class="active" aria-current="page">Status</a>' in html


def test_the_latency_history_reaches_the_chart_through_json_script(client, member, probed):
    client.force_login(member)
    html = client.get("/status/").content.decode()
    start = html.index('<script id="status-chart-data" type="application/json">') + len(
        '<script id="status-chart-data" type="application/json">'
    )
    data = json.loads(html[start : html.index("</script>", start)])
    assert data == [
        {
            "name": "local",
            "history": [{"t": "2026-11-30T12:10:00+00:00", "ms": None, "ok": False}],
        },
        {
            "name": "openrouter",
            "history": [
                {"t": "2026-11-30T12:00:00+00:00", "ms": 120, "ok": True},
                {"t": "2026-11-30T12:05:00+00:00", "ms": None, "ok": False},
                {"t": "2026-11-30T12:10:00+00:00", "ms": 95, "ok": True},
            ],
        },
    ]
    assert "vendor/chart.js-4.6.1/chart.umd.min.js" in html


def test_an_upstream_never_probed_says_so_and_no_chart_is_drawn(client, member):
    client.force_login(member)
    response = client.get("/status/")
    assert [row.state for row in response.context["rows"]] == ["unknown"]
    html = response.content.decode()
    assert "not checked yet" in html
    assert "status-chart-data" not in html


def test_only_staff_see_the_base_urls(client, member, admin_user, probed):
    client.force_login(member)
    assert "http://127.0.0.1:8001/v1" not in client.get("/status/").content.decode()
    client.force_login(admin_user)
    assert '<td class="mono">http://127.0.0.1:8001/v1</td>' in client.get("/status/").content.decode()
