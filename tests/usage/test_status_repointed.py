"""/status/: an upstream's figures start afresh when its base URL changes (each probe records the URL it
probed); the chart's data marks failed probes."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from usage.models import Upstream, UpstreamProbe
from usage.services.upstreams import upstream_probe_all

pytestmark = pytest.mark.django_db


def transport(status_by_host: dict[str, int]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status_by_host[request.url.host], json={}))


def status_row(client, name: str) -> list[str]:
    html = client.get("/status/").content.decode()
    row = re.search(rf'<tr data-upstream="{name}" data-state="\w+">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in cells]


def chart_of(client) -> list[dict]:
    html = client.get("/status/").content.decode()
    found = re.search(r'<script id="status-chart-data" type="application/json">(.*?)</script>', html)
    return json.loads(found.group(1)) if found else []


def test_each_probe_records_the_url_it_probed(settings):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1/"
    Upstream.objects.create(name="local", base_url="http://local.example/v1/", model_prefix="local/")
    upstream_probe_all(transport=transport({"openrouter.example": 200, "local.example": 200}))
    assert dict(UpstreamProbe.objects.values_list("upstream__name", "base_url")) == {
        "openrouter": "https://openrouter.example/api/v1",
        "local": "http://local.example/v1",
    }


def test_re_pointing_openrouter_starts_its_figures_afresh(client, member, settings):
    client.force_login(member)
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    for _ in range(3):
        upstream_probe_all(transport=transport({"openrouter.example": 200}))
    # upstream, prefix, state, last check, latency, uptime, probes
    assert status_row(client, "openrouter")[2] == "up"
    assert status_row(client, "openrouter")[5:] == ["100.0%", "3"]

    settings.OPENROUTER_BASE_URL = "https://elsewhere.example/api/v1"
    row = status_row(client, "openrouter")
    assert row[2:] == ["not checked yet", "—", "—", "—", "0"]
    assert chart_of(client) == []

    upstream_probe_all(transport=transport({"elsewhere.example": 503}))
    row = status_row(client, "openrouter")
    assert row[2] == "down HTTP 503 Service Unavailable"
    assert row[5:] == ["0.0%", "1"]
    assert UpstreamProbe.objects.count() == 4  # the old probes are kept until pruned, just not counted


def test_re_pointing_an_upstream_in_the_admin_starts_its_figures_afresh(client, admin_user, settings):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    local = Upstream.objects.create(name="local", base_url="http://local.example/v1", model_prefix="local/")
    upstream_probe_all(transport=transport({"openrouter.example": 200, "local.example": 200}))
    client.force_login(admin_user)
    # upstream, base URL, prefix, state, last check, latency, uptime, probes
    assert status_row(client, "local")[6:] == ["100.0%", "1"]
    local.base_url = "http://other.example/v1"
    local.save(update_fields=["base_url"])
    assert status_row(client, "local")[3:] == ["not checked yet", "—", "—", "—", "0"]
    assert status_row(client, "openrouter")[6:] == ["100.0%", "1"]


def test_the_chart_data_marks_failed_probes(client, member, settings):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    upstream_probe_all(transport=transport({"openrouter.example": 200}))
    upstream_probe_all(transport=transport({"openrouter.example": 502}))
    client.force_login(member)
    [openrouter] = chart_of(client)
    assert [(point["ok"], point["ms"] is None) for point in openrouter["history"]] == [
        (True, False),
        (False, True),
    ]
