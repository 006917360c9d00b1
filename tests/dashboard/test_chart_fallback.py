"""Without JavaScript, each chart's figures stand in for it: a note and a table in <noscript>, under the
chart (templates/_chart.html), money shown as every page shows it. The spend, price-history and status
charts; the browser side (shown with JavaScript off, hidden with it on) is tests/browser/test_chart_fallback.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from tests.catalog.page_factories import T0, make_model
from tests.conftest import PASSWORD
from tests.usage.spend_data import NOW, build_ledger
from usage.models import Upstream, UpstreamProbe
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db

NOTE = "Charts need JavaScript; the table below has the same figures."
T1 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SEEN = datetime(2026, 6, 1, tzinfo=UTC)


class _Fallback(HTMLParser):
    """The text of the note, the caption and each table row (header row first) inside `<div id=...>`."""

    def __init__(self, div_id: str) -> None:
        super().__init__()
        self.div_id = div_id
        self.depth = 0  # of divs, inside the fallback's own
        self.notes: list[str] = []
        self.caption = ""
        self.rows: list[list[str]] = []
        self.text: list[str] | None = None  # the cell, note or caption being read

    def handle_starttag(self, tag, attrs):
        if tag == "div" and (self.depth or dict(attrs).get("id") == self.div_id):
            self.depth += 1
        if not self.depth:
            return
        if tag == "tr":
            self.rows.append([])
        if tag in ("p", "caption", "th", "td"):
            self.text = []

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag == "div":
            self.depth -= 1
        text = " ".join("".join(self.text or []).split())
        if tag == "p":
            self.notes.append(text)
        elif tag == "caption":
            self.caption = text
        elif tag in ("th", "td"):
            self.rows[-1].append(text)

    def handle_data(self, data):
        if self.depth and self.text is not None:
            self.text.append(data)


def fallback(response, chart_id: str) -> dict:
    html = response.content.decode()
    noscript = html[html.index("<noscript>") : html.index("</noscript>")]
    assert f'id="{chart_id}-table"' in noscript
    parser = _Fallback(f"{chart_id}-table")
    parser.feed(html)
    return {"notes": parser.notes, "caption": parser.caption, "rows": parser.rows}


def log_in(client, user):
    client.login(username=user.username, password=PASSWORD)


@pytest.fixture
def ledger(admin_user, member, time_machine):
    time_machine.move_to(NOW, tick=False)
    build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)


def test_the_spend_chart_per_hour_is_a_table_of_the_same_amounts(client, admin_user, ledger):
    log_in(client, admin_user)

    table = fallback(client.get("/spend/?range=today"), "spend-chart")

    assert table["notes"] == [NOTE]
    assert table["caption"] == "Spend per hour by model (USD)"
    quiet = [[f"2026-11-30 {hour:02d}:00", "$0.00", "$0.00"] for hour in range(9)]
    assert table["rows"] == [
        ["Hour (UTC)", "anthropic/claude-sonnet-4", "openai/gpt-4o"],
        *quiet,
        ["2026-11-30 09:00", "$0.00", "$0.004"],
        ["2026-11-30 10:00", "$0.0082", "$0.00"],
        ["2026-11-30 11:00", "$0.00", "$0.00"],
        ["2026-11-30 12:00", "$0.0021", "$0.00"],
    ]


def test_the_spend_chart_per_day_shows_a_member_their_own_keys_only(client, member, ledger):
    log_in(client, member)

    table = fallback(client.get("/spend/?range=7d"), "spend-chart")

    assert table["caption"] == "Spend per day by model (USD)"
    assert table["rows"] == [
        ["Day (UTC)", "anthropic/claude-sonnet-4", "openai/gpt-4o"],
        *([f"2026-11-{day}", "$0.00", "$0.00"] for day in range(23, 30)),
        ["2026-11-30", "$0.0082", "$0.004"],
    ]


def test_the_price_history_is_a_table_of_its_points_per_1m_tokens(client, admin_user):
    make_model(
        "delta/chat",
        last_seen=SEEN,
        prices=[
            (T0, {"prompt": "0.0000000833333333", "completion": "0.000015"}),
            (T1, {"prompt": "0.000000108", "completion": "0.00000032"}),
            (T1 + timedelta(days=30), {"prompt": None, "completion": None}),
        ],
    )
    log_in(client, admin_user)

    table = fallback(client.get("/models/delta/chat/"), "price-chart")

    assert table["notes"] == [NOTE]
    assert table["caption"] == "Input and output price per 1M tokens over time"
    assert table["rows"] == [
        ["Date (UTC)", "Input /1M", "Output /1M"],
        ["2026-01-01 00:00", "$0.0833", "$15.00"],
        ["2026-03-01 09:30", "$0.108", "$0.32"],
        ["2026-03-31 09:30", "—", "—"],  # a variable price: a gap in the chart
        ["2026-06-01 00:00", "—", "—"],  # the last sighting, where the chart's step line ends
    ]


def test_the_latency_history_is_a_table_per_probe_time_and_upstream(client, member):
    openrouter = Upstream.objects.get(name="openrouter")
    local = Upstream.objects.create(name="local", base_url="http://127.0.0.1:8001/v1", model_prefix="local/")
    Upstream.objects.create(name="idle", base_url="http://idle.example/v1", model_prefix="idle/")
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    for upstream, minutes, ok, ms in [
        (openrouter, 0, True, 120),
        (openrouter, 5, False, None),
        (openrouter, 10, True, 1095),
        (local, 10, False, None),
        (local, 15, True, 8),
    ]:
        UpstreamProbe.objects.create(
            upstream=upstream, checked_at=at + timedelta(minutes=minutes), ok=ok, latency_ms=ms
        )
    log_in(client, member)

    table = fallback(client.get("/status/"), "status-chart")

    assert table["notes"] == [NOTE]
    assert table["caption"] == "Probe latency per upstream"
    assert table["rows"] == [
        ["Probe time (UTC)", "local", "openrouter"],  # "idle" has no probes: no column, as no line
        ["2026-11-30 12:00:00", "—", "120 ms"],
        ["2026-11-30 12:05:00", "—", "failed"],
        ["2026-11-30 12:10:00", "failed", "1,095 ms"],
        ["2026-11-30 12:15:00", "8 ms", "—"],
    ]
