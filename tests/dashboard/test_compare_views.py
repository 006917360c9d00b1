"""/compare/: models side by side, the cost calculator, and our own traffic re-priced."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.catalog.page_data import AUTO, FREE, IMAGE_GEN, OLD, SMALL, VISION, build_catalogue
from tests.catalog.page_factories import make_model
from tests.dashboard.ledger_data import build_ledger
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def get(client, member):
    build_catalogue()
    client.force_login(member)

    def _get(query: str):
        response = client.get(f"/compare/{query}")
        assert response.status_code == 200
        return " ".join(response.content.decode().split())  # whitespace runs as one space, as shown

    return _get


def compared(html: str) -> list[str]:
    head = re.search(r'<table class="compare" id="compare-table">\s*<thead>(.*?)</thead>', html, re.S)
    return re.findall(r'<div class="mono muted">([^<]+)</div>', head.group(1)) if head else []


def price_rows(html: str) -> dict[str, list[str]]:
    rows = {}
    for label, cells in re.findall(
        r'<tr><th scope="row">([^<]+)</th>((?:\s*<td class="num[^"]*">[^<]*</td>)+)\s*</tr>', html
    ):
        rows[label] = [
            f"{text}*" if "cheapest" in cls else text
            for cls, text in re.findall(r'<td class="(num[^"]*)">([^<]*)</td>', cells)
        ]
    return rows


def calculator(html: str) -> list[str]:
    return re.findall(r'data-cost-for="\d+">([^<]*)</td>', html)


def repriced(html: str) -> list[str]:
    table = re.search(r'<table id="traffic-results">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [
        f"{t}*" if "cheapest" in c else t
        for c, t in re.findall(r'<td class="(num[^"]*)">([^<]*)</td>', table)
    ]


def errors(html: str) -> list[str]:
    return re.findall(r'<li class="msg-error">([^<]*)</li>', html)


def test_it_shows_the_models_side_by_side_with_the_cheapest_cell_marked(get):
    html = get(f"?models={SMALL},{VISION},{IMAGE_GEN}")
    assert compared(html) == [SMALL, VISION, IMAGE_GEN]
    assert errors(html) == []
    rows = price_rows(html)
    assert rows["Input / 1M tokens"] == ["$0.10*", "$3.00", "$1.00"]
    assert rows["Output / 1M tokens"] == ["$0.40*", "$15.00", "$4.00"]
    assert rows["Cache read / 1M tokens"] == ["—", "$0.30", "—"]
    assert rows["Cache write / 1M tokens"] == ["—", "$3.75", "—"]
    assert rows["Per request"] == ["—", "—", "$0.0004"]
    assert rows["Per image"] == ["—", "—", "$0.001"]
    assert rows["Per web search"] == ["—", "$0.01", "—"]
    assert rows["Context"] == ["32,000", "200,000", "8,192"]
    assert rows["Max output"] == ["—", "64,000", "—"]
    assert "Reasoning / 1M tokens" not in rows  # nobody prices it


def test_free_and_variable_models_get_badges_and_no_negative_price(get):
    html = get(f"?models={FREE},{AUTO}")
    assert price_rows(html)["Input / 1M tokens"] == ["$0.00", "variable"]
    assert '<span class="badge free">free</span>' in html
    assert '<span class="badge variable">variable price</span>' in html
    assert calculator(html) == ["$0.00", "variable"]


def test_a_model_without_a_price_version_is_variable_for_the_server_and_the_js(get):
    make_model("no/prices", prices=[])
    html = get(f"?models={SMALL},no/prices")
    assert calculator(html) == ["$0.0003", "variable"]
    data = json.loads(
        re.search(r'<script id="calculator-prices" type="application/json">(.*?)</script>', html).group(1)
    )
    assert data["models"][1]["base"]["prompt"] is None


def test_models_come_comma_separated_or_one_parameter_each(get):
    assert compared(get(f"?models={VISION}&models={SMALL}")) == [VISION, SMALL]
    assert compared(get(f"?models={VISION},%20{SMALL},{VISION}")) == [VISION, SMALL]


def test_the_calculator_defaults_to_a_thousand_in_and_five_hundred_out(get):
    # 1000 × $0.10/1M + 500 × $0.40/1M = $0.0003;  1000 × $3 + 500 × $15 per 1M = $0.0105
    html = get(f"?models={SMALL},{VISION}")
    assert calculator(html) == ["$0.0003", "$0.0105"]
    assert 'name="input_tokens" value="1000"' in html


def test_the_calculator_prices_cached_input_cache_writes_reasoning_and_requests(get):
    html = get(
        f"?models={SMALL},{VISION},{IMAGE_GEN}&input_tokens=1000&output_tokens=500&cached_percent=50"
        "&cache_write_percent=20&reasoning_tokens=200&requests=10"
    )
    # Reasoning is part of the 500 output tokens (as OpenRouter counts it), billed at the reasoning price.
    # small (no cache prices: all input at the input price): 1000 × 1e-7 + 500 × 4e-7 = 0.0003 × 10
    # vision: 300 × 3e-6 + 500 × 3e-7 + 200 × 3.75e-6 + 300 × 15e-6 + 200 × 15e-6 = 0.0093 × 10
    # image-gen: 1000 × 1e-6 + 500 × 4e-6 + $0.0004 per request = 0.0034 × 10
    assert calculator(html) == ["$0.003", "$0.093", "$0.034"]
    assert '<td class="num cheapest" data-cost-for="0">' in html
    data = json.loads(
        re.search(r'<script id="calculator-prices" type="application/json">(.*?)</script>', html).group(1)
    )
    assert data["models"][2] == {
        "base": {
            "prompt": "0.000001",
            "completion": "0.000004",
            "input_cache_read": "0",
            "input_cache_write": "0",
            "internal_reasoning": "0",
            "request": "0.0004",
        },
        "overrides": [],
    }
    assert "Output tokens count all output, reasoning included" in html


def test_reasoning_beyond_the_output_and_shares_beyond_100_percent_are_refused(get):
    html = get(
        f"?models={SMALL},{VISION}&input_tokens=1000&output_tokens=500&cached_percent=90"
        "&cache_write_percent=20&reasoning_tokens=600"
    )
    assert errors(html) == [
        "Cache-write share of input (%): With the cached share it makes more than 100 %.",
        "Reasoning tokens (of the output tokens): They are part of the output tokens: at most as many.",
    ]
    # both fall back to 0: vision 100 × 3e-6 + 900 × 3e-7 + 500 × 15e-6 = 0.00807
    assert calculator(html) == ["$0.0003", "$0.00807"]


def test_the_calculator_shows_three_significant_digits_below_a_dollar(get):
    html = get(
        f"?models={SMALL},{VISION}&input_tokens=1&output_tokens=1&cached_percent=0&reasoning_tokens=0&requests=3"
    )
    # small: 3 × 5e-7 = 0.0000015; vision: 3 × 1.8e-5
    assert calculator(html) == ["$0.0000015", "$0.000054"]


def test_bad_calculator_values_say_so_and_fall_back_to_defaults(get):
    html = get(
        f"?models={SMALL},{VISION}&input_tokens=lots&output_tokens=500&cached_percent=150&reasoning_tokens=0&requests=0"
    )
    assert errors(html) == [
        "Input tokens: Enter a whole number.",
        "Cached share of input (%): Ensure this value is less than or equal to 100.",
        "Requests: Ensure this value is greater than or equal to 1.",
    ]
    assert calculator(html) == ["$0.0003", "$0.0105"]


def test_an_unknown_model_says_so(get):
    html = get(f"?models={SMALL},nobody/nothing,{VISION}")
    assert errors(html) == ["Unknown model: nobody/nothing."]
    assert compared(html) == [SMALL, VISION]


def test_one_model_asks_for_another(get):
    html = get(f"?models={SMALL}")
    assert errors(html) == []
    assert (
        '<li class="msg-info" id="compare-hint">Pick at least two models to compare (up to six).</li>' in html
    )
    assert compared(html) == []
    assert 'name="models" value="alpha/small"' in html


def test_no_model_shows_the_picker(get):
    html = get("")
    assert errors(html) == []
    assert "Pick at least two models to compare (up to six)." in html
    assert '<option value="alpha/vision">Alpha Vision Pro</option>' in html
    assert f'<option value="{OLD}">' not in html  # retired ones are not offered


def test_more_than_six_models_says_so_and_compares_the_first_six(get):
    for i in range(3):
        make_model(f"extra/m{i}")
    ids = [SMALL, VISION, FREE, AUTO, IMAGE_GEN, "extra/m0", "extra/m1", "extra/m2"]
    html = get(f"?models={','.join(ids)}")
    assert errors(html) == ["Compare at most 6 models: you asked for 8, the first 6 are shown."]
    assert compared(html) == ids[:6]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rolled up"])
def test_your_traffic_is_repriced_at_each_models_prices(client, get, member, admin_user, rolled_up):
    build_ledger(member=member, admin=admin_user, model=VISION)
    if rolled_up:
        rollup_catch_up()  # whole hours from the rollups; the web search from its raw row
    html = get(f"?models={SMALL},{VISION}")
    # the member's last 30 days: 12,000 input (4,000 cached, 1,000 cache writes), 3,500 output (1,000 reasoning)
    assert (
        "2 requests: 12,000 input tokens (4,000 cached, 1,000 cache writes), 3,500 output tokens (1,000 reasoning)."
        in html
    )
    assert '<strong id="actual-cost">$0.0047</strong>' in html
    # small: 7000×1e-7 + 4000×1e-7 + 1000×1e-7 + 2500×4e-7 + 1000×4e-7 = 0.0026
    # vision: 7000×3e-6 + 4000×3e-7 + 1000×3.75e-6 + 2500×15e-6 + 1000×15e-6 + 1 search × $0.01 = 0.08845
    assert repriced(html) == ["$0.0026*", "$0.0885"]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rolled up"])
def test_a_longer_range_includes_older_traffic(get, member, admin_user, rolled_up):
    build_ledger(member=member, admin=admin_user, model=VISION)
    if rolled_up:
        rollup_catch_up()
    html = get(f"?models={SMALL},{VISION}&days=60")
    assert '<strong id="actual-cost">$1.00</strong>' in html
    # plus 5000 in, 5000 out: small +0.0005 +0.002; vision +0.015 +0.075
    assert repriced(html) == ["$0.0051*", "$0.178"]


def test_staff_can_pick_any_key(client, admin_user, member):
    build_catalogue()
    keys = build_ledger(member=member, admin=admin_user, model=VISION)
    client.force_login(admin_user)
    html = client.get(f"/compare/?models={SMALL},{VISION}&key={keys['theirs'].pk}").content.decode()
    assert '<strong id="actual-cost">$0.10</strong>' in html
    assert repriced(html) == ["$0.10*", "$3.00"]


def test_a_user_cannot_pick_someone_elses_key(get, member, admin_user):
    keys = build_ledger(member=member, admin=admin_user, model=VISION)
    html = get(f"?models={SMALL},{VISION}&key={keys['theirs'].pk}")
    assert errors(html) == [
        f"Key: Select a valid choice. {keys['theirs'].pk} is not one of the available choices."
    ]
    assert '<strong id="actual-cost">$0.0047</strong>' in html  # all of their own keys instead
    assert "theirs" not in re.search(r'<select name="key".*?</select>', html, re.S).group(0)


def test_an_outsider_has_no_traffic(client, outsider, member, admin_user):
    build_catalogue()
    build_ledger(member=member, admin=admin_user, model=VISION)
    client.force_login(outsider)
    html = client.get(f"/compare/?models={SMALL},{VISION}").content.decode()
    assert "No gateway traffic in this range." in html


def test_query_count_does_not_grow_with_the_number_of_models(client, member, admin_user):
    build_catalogue()
    build_ledger(member=member, admin=admin_user, model=VISION)
    client.force_login(member)
    with CaptureQueriesContext(connection) as two:
        client.get(f"/compare/?models={SMALL},{VISION}")
    with CaptureQueriesContext(connection) as five:
        client.get(f"/compare/?models={SMALL},{VISION},{FREE},{AUTO},{IMAGE_GEN}")
    assert len(two) == len(five)
    assert len(two) <= 8


def test_a_chosen_date_range_reprices_that_traffic_only(get, member, admin_user):
    build_ledger(member=member, admin=admin_user, model=VISION)
    today = timezone.now().date()
    start, end = today - timedelta(days=45), today - timedelta(days=35)
    html = get(f"?models={SMALL},{VISION}&start={start}&end={end}")
    assert errors(html) == []
    assert '<strong id="actual-cost">$1.00</strong>' in html
    assert f"{start:%Y-%m-%d} 00:00 to {end + timedelta(days=1):%Y-%m-%d} 00:00 UTC, 1 request:" in html
    assert repriced(html) == ["$0.0025*", "$0.09"]


def test_a_range_that_ends_before_it_starts_says_so(get):
    html = get(f"?models={SMALL},{VISION}&start=2026-05-02&end=2026-05-01")
    assert errors(html) == ["To (UTC date, included): The range ends before it starts."]


def test_a_nul_byte_in_a_model_id_is_just_unknown(get):
    html = get(f"?models={SMALL},a%00b,{VISION}")
    assert errors(html) == ["Unknown model: a\ufffdb."]
    assert compared(html) == [SMALL, VISION]
