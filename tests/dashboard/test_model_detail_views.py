"""/models/<author>/<slug>/: everything about one model, its price history, and our traffic on it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.catalog.page_data import OLD, SMALL, VISION, build_catalogue
from tests.catalog.page_factories import T0, make_model
from tests.dashboard.ledger_data import build_ledger

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 3, 1, tzinfo=UTC)
T2 = datetime(2026, 5, 1, tzinfo=UTC)
SEEN = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def repriced():
    return make_model(
        "delta/chat:beta",
        name="Delta Chat",
        description="Talks a lot.",
        context_length=131072,
        max_completion_tokens=8192,
        supported_parameters=["max_tokens", "tools"],
        default_parameters={"temperature": 0.7},
        expiration_date=datetime(2026, 12, 31).date(),
        knowledge_cutoff="2025-10",
        last_seen=SEEN,
        prices=[
            (T0, {"prompt": "0.00000007", "completion": "0.00000025"}),
            (T1, {"prompt": "0.000000108", "completion": "0.00000032"}),
            (
                T2,
                {
                    "prompt": "0.00000012",
                    "completion": "0.00000038",
                    "input_cache_read": "0.00000003",
                    "internal_reasoning": "0.0000005",
                    "image": "0.0012",
                    "web_search": "0.004",
                    "overrides": [
                        {"min_prompt_tokens": 128000, "prompt": "0.00000024", "completion": "0.00000076"},
                        {
                            "utc_start": 1000,
                            "utc_end": 100,
                            "prompt": "0.00000006",
                            "completion": "0.00000019",
                        },
                    ],
                },
            ),
        ],
    )


def page(client, user, path):
    client.force_login(user)
    response = client.get(path)
    return response.status_code, response.content.decode()


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_it_shows_everything_known_about_the_model(client, member, repriced):
    status, html = page(client, member, "/models/delta/chat:beta/")
    assert status == 200
    flat = text(html)
    assert "Delta Chat" in html and "delta/chat:beta" in html
    assert "Talks a lot." in html
    assert "Context 131,072 tokens" in flat
    assert "Max output 8,192 tokens" in flat
    assert "Expires 2026-12-31" in flat
    assert "Knowledge cutoff 2025-10" in flat
    assert "First seen 2026-01-01 00:00 UTC" in flat
    assert "Last seen 2026-06-01 00:00 UTC" in flat
    assert "State current" in flat
    assert "<code>tools</code>" in html and "<code>temperature=0.7</code>" in html


def test_every_price_category_is_shown_per_million_tokens_or_per_unit(client, member, repriced):
    _, html = page(client, member, "/models/delta/chat:beta/")
    prices = dict(
        re.findall(r'<tr data-category="(\w+)"><th scope="row">[^<]*</th><td class="num">([^<]*)</td>', html)
    )
    assert prices == {
        "prompt": "$0.12 / 1M tokens",
        "completion": "$0.38 / 1M tokens",
        "input_cache_read": "$0.03 / 1M tokens",
        "internal_reasoning": "$0.50 / 1M tokens",
        "image": "$0.0012 per image",
        "web_search": "$0.004 per web search",
    }


def test_tiered_and_timed_prices_are_explained_in_words(client, member, repriced):
    _, html = page(client, member, "/models/delta/chat:beta/")
    # min_prompt_tokens is a strict lower bound; utc_start / utc_end are HHMM (1000 = 10:00), the end excluded
    assert "Above 128,000 input tokens per request: Input $0.24 / 1M, Output $0.76 / 1M." in html
    assert "From 10:00 until 01:00 UTC (overnight): Input $0.06 / 1M, Output $0.19 / 1M." in html


def test_the_price_history_chart_gets_one_point_per_version_plus_the_last_sighting(client, member, repriced):
    _, html = page(client, member, "/models/delta/chat:beta/")
    data = json.loads(
        re.search(r'<script id="price-history" type="application/json">(.*?)</script>', html).group(1)
    )
    ms = [int(t.timestamp() * 1000) for t in (T0, T1, T2, SEEN)]
    assert data["input"] == [
        {"x": x, "y": y} for x, y in zip(ms, ["0.07", "0.108", "0.12", "0.12"], strict=True)
    ]
    assert data["output"] == [
        {"x": x, "y": y} for x, y in zip(ms, ["0.25", "0.32", "0.38", "0.38"], strict=True)
    ]
    assert data["unit"] == "USD per 1M tokens"
    assert "chart.umd.min.js" in html and "js/model_detail.js" in html


def test_the_price_versions_table_lists_every_version_newest_first(client, member, repriced):
    _, html = page(client, member, "/models/delta/chat:beta/")
    table = re.search(r'<table id="price-versions">(.*?)</table>', html, re.S).group(1)
    rows = [text(r).strip() for r in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)]
    assert rows == [
        "2026-05-01 00:00 now $0.12 $0.38 $0.03 Reasoning $0.50 / 1M tokens; Per image $0.0012 per image; "
        "Per web search $0.004 per web search",
        "2026-03-01 00:00 2026-05-01 00:00 $0.108 $0.32 —",
        "2026-01-01 00:00 2026-03-01 00:00 $0.07 $0.25 —",
    ]


def test_a_variable_price_is_never_shown_negative(client, member):
    build_catalogue()
    _, html = page(client, member, "/models/router/auto/")
    assert '<span class="badge variable">variable price</span>' in html
    assert "variable" in re.search(r'<tr data-category="prompt">(.*?)</tr>', html).group(1)
    assert "-1" not in text(html)


def test_a_retired_model_still_has_its_page(client, member):
    build_catalogue()
    status, html = page(client, member, f"/models/{OLD}/")
    assert status == 200
    assert '<span class="badge retired">retired 2026-02-01</span>' in html
    assert "retired since 2026-02-01 00:00 UTC" in html


def test_alias_ids_with_a_tilde_have_a_page(client, member):
    make_model("~alpha/latest", name="Alpha Latest")
    status, html = page(client, member, "/models/~alpha/latest/")
    assert status == 200
    assert "Alpha Latest" in html


@pytest.mark.parametrize("path", ["/models/nobody/nothing/", "/models/alpha/small/extra/"])
def test_an_unknown_model_is_a_404_page(client, member, path):
    build_catalogue()
    status, _ = page(client, member, path)
    assert status == 404


def test_it_shows_the_ledger_spend_and_tokens_the_user_may_see(client, member, admin_user):
    build_catalogue()
    build_ledger(member=member, admin=admin_user, model=VISION)
    _, html = page(client, member, f"/models/{VISION}/")
    stats = dict(re.findall(r'<div class="label">([^<]+)</div><div class="value">([^<]+)</div>', html))
    assert stats == {
        "Spend": "$1.00",
        "Requests": "3",
        "Input tokens": "17,000",
        "Cached input tokens": "4,000",
        "Output tokens": "8,500",
        "Reasoning tokens": "1,000",
    }
    client.logout()
    _, html = page(client, admin_user, f"/models/{VISION}/")
    stats = dict(re.findall(r'<div class="label">([^<]+)</div><div class="value">([^<]+)</div>', html))
    assert stats["Spend"] == "$1.10"
    assert stats["Input tokens"] == "1,017,000"


def test_an_outsider_sees_no_traffic(client, outsider, member, admin_user):
    build_catalogue()
    build_ledger(member=member, admin=admin_user, model=VISION)
    _, html = page(client, outsider, f"/models/{VISION}/")
    assert "No gateway traffic on this model yet." in html
    assert "$1.0047" not in html


def test_query_count_does_not_grow_with_the_number_of_versions(client, member, repriced):
    client.force_login(member)
    make_model(SMALL)
    with CaptureQueriesContext(connection) as one:
        client.get(f"/models/{SMALL}/")
    with CaptureQueriesContext(connection) as three:
        client.get("/models/delta/chat:beta/")
    assert len(one) == len(three)
    assert len(one) <= 7  # the traffic: the rollup state, rollups, raw tail, raw rows priced apart


def test_window_times_read_as_hhmm_and_a_missing_edge_is_midnight(client, member):
    make_model(
        "timed/model",
        prices=[
            (
                T0,
                {
                    "prompt": "0.000001",
                    "completion": "0.000002",
                    "overrides": [
                        {"utc_start": 1030, "utc_end": 1415, "prompt": "0.000002"},
                        {"utc_end": 630, "completion": "0.000001"},
                        {"utc_start": 2200, "prompt": "0.0000005"},
                        {"utc_start": 2460, "prompt": "0.0000005"},
                    ],
                },
            )
        ],
    )
    status, html = page(client, member, "/models/timed/model/")
    assert status == 200
    assert "From 10:30 until 14:15 UTC: Input $2.00 / 1M." in html
    assert "From 00:00 until 06:30 UTC: Output $1.00 / 1M." in html
    assert "From 22:00 until 24:00 UTC: Input $0.50 / 1M." in html
    assert "From 2460 until 24:00 UTC: Input $0.50 / 1M." in html  # not a clock time: as received


def test_odd_overrides_are_shown_as_received(client, member):
    make_model(
        "odd/model",
        prices=[
            (
                T0,
                {
                    "prompt": "0.000001",
                    "completion": "0.000002",
                    "overrides": [
                        {"min_prompt_tokens": "lots", "prompt": "n/a"},
                        "not-a-dict",
                        {"image": "0.01"},
                    ],
                },
            )
        ],
    )
    status, html = page(client, member, "/models/odd/model/")
    assert status == 200
    assert "Above lots input tokens per request: prompt n/a." in html
    assert "Under some conditions: Per image $0.01." in html


def test_a_real_price_history_over_six_synced_snapshots(client, member):
    from tests.catalog.page_factories import SNAPSHOTS, sync_all_snapshots

    sync_all_snapshots()
    _, html = page(client, member, "/models/meta-llama/llama-3.3-70b-instruct/")
    data = json.loads(
        re.search(r'<script id="price-history" type="application/json">(.*?)</script>', html).group(1)
    )
    # repriced in each of the first five snapshots (SOURCES.md), unchanged in the last: its last sighting
    # The first prices hold from the model's publication (`created`: 2024-12-06 17:28:57 UTC).
    ms = [1733506137000] + [int(at.timestamp() * 1000) for _, at in SNAPSHOTS[1:]]
    assert [p["x"] for p in data["input"]] == ms
    assert [p["y"] for p in data["input"]] == ["0.07", "0.108", "0.10", "0.12", "0.10", "0.10"]
    assert [p["y"] for p in data["output"]] == ["0.25", "0.32", "0.32", "0.38", "0.32", "0.32"]
    table = re.search(r'<table id="price-versions">(.*?)</table>', html, re.S).group(1)
    assert table.count("<tr>") == 1 + 5


def test_a_nul_byte_in_the_path_is_a_404(client, member):
    status, _ = page(client, member, "/models/a/b%00c/")
    assert status == 404
