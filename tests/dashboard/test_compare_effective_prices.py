"""The compare calculator and "your traffic" at effective prices: tiers by prompt size, UTC time windows,
cache writes, reasoning inside output, and traffic past the raw-row retention read from the rollups.

Prices (per 1M tokens), as in the bundled 2026-08-19 snapshot:
- anthropic/claude-sonnet-4: input 3, output 15, cache read 0.3, write 3.75, write 1 h 6; above 200,000 prompt
  tokens: 6, 22.5, 0.6, 7.5, 12.
- deepseek/deepseek-v4-pro: input 0.66, output 1.98, cache read 0.022; doubled (1.32, 3.96, 0.044) in
  [01:00, 04:00) and [06:00, 10:00) UTC, base in [10:00, 01:00) (overnight) and [04:00, 06:00).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from catalog.price_schedule import PriceSchedule
from catalog.selectors.catalogue import catalogue_models
from tests.catalog.page_factories import T0, make_model
from tests.usage.spend_data import NOW, make_key
from tests.usage.spend_data import entry as add_entry
from usage.selectors.repricing import traffic_repriced
from usage.services.rollups import ledger_prune, rollup_catch_up

pytestmark = pytest.mark.django_db

SONNET = "anthropic/claude-sonnet-4"
DEEPSEEK = "deepseek/deepseek-v4-pro"
DOUBLED = {"prompt": "0.00000132", "completion": "0.00000396", "input_cache_read": "0.000000044"}
BASE = {"prompt": "0.00000066", "completion": "0.00000198", "input_cache_read": "0.000000022"}


def build_models():
    make_model(SONNET, prices=[(T0, {
        "prompt": "0.000003", "completion": "0.000015", "input_cache_read": "0.0000003",
        "input_cache_write": "0.00000375", "input_cache_write_1h": "0.000006",
        "overrides": [{
            "min_prompt_tokens": 200000, "prompt": "0.000006", "completion": "0.0000225",
            "input_cache_read": "0.0000006", "input_cache_write": "0.0000075", "input_cache_write_1h": "0.000012",
        }],
    })])  # fmt: skip
    make_model(DEEPSEEK, prices=[(T0, {**BASE, "overrides": [
        {"utc_start": 1000, "utc_end": 100, **BASE},
        {"utc_start": 100, "utc_end": 400, **DOUBLED},
        {"utc_start": 400, "utc_end": 600, **BASE},
        {"utc_start": 600, "utc_end": 1000, **DOUBLED},
    ]})])  # fmt: skip


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def calculator(html: str) -> list[str]:
    return re.findall(r'data-cost-for="\d+">([^<]*)</td>', html)


def repriced(html: str) -> list[str]:
    table = re.search(r'<table id="traffic-results">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return re.findall(r'<td class="num[^"]*">([^<]*)</td>', table)


@pytest.fixture
def get(client, member, time_machine):
    build_models()
    client.force_login(member)

    def _get(moment: datetime, query: str):
        time_machine.move_to(moment, tick=False)
        response = client.get(f"/compare/?models={SONNET},{DEEPSEEK}&{query}")
        assert response.status_code == 200
        return " ".join(response.content.decode().split())  # whitespace runs as one space, as shown

    return _get


def test_the_prompt_size_picks_the_tier_strictly_above_the_threshold(get):
    # above 200,000: 250,000 × 6e-6 + 1,000 × 22.5e-6 = 1.5225 (issue 15's figure)
    html = get(at(30, 12, 30), "input_tokens=250000&output_tokens=1000")
    # deepseek at 12:30 (base): 250,000 × 0.66e-6 + 1,000 × 1.98e-6 = 0.16698
    assert calculator(html) == ["$1.52", "$0.167"]
    # at 200,000 (not above): base, 200,000 × 3e-6 + 1,000 × 15e-6
    html = get(at(30, 12, 30), "input_tokens=200000&output_tokens=1000")
    assert calculator(html) == ["$0.615", "$0.134"]
    html = get(at(30, 12, 30), "input_tokens=200001&output_tokens=0")
    assert calculator(html)[0] == "$1.20"  # 200,001 × 6e-6 (the tier), not 200,001 × 3e-6
    assert "The input tokens per request pick a tiered model's prices" in html


def test_a_timed_model_is_priced_at_the_current_utc_time_and_says_so(get):
    html = get(at(30, 2, 5), "input_tokens=250000&output_tokens=1000")
    # 02:05 is in [01:00, 04:00): 250,000 × 1.32e-6 + 1,000 × 3.96e-6
    assert calculator(html) == ["$1.52", "$0.334"]
    assert (
        '<p class="muted" id="calculator-timed">Prices at 02:05 UTC; deepseek/deepseek-v4-pro changes prices '
        "by time of day.</p>" in html
    )
    assert (  # the same badge as on /models/ (catalog_prices.price_badges)
        '<span class="badge timed" title="Prices change by UTC time of day: see the model page">timed</span>'
        in html
    )
    assert (
        '<span class="badge tiered" title="Prices above a prompt size differ: see the model page">tiered</span>'
        in html
    )
    # the edges: 01:00 is in (start included), 00:59 and 04:00 are not (the end is excluded)
    assert calculator(get(at(30, 1, 0), "input_tokens=1000000&output_tokens=0"))[1] == "$1.32"
    assert calculator(get(at(30, 0, 59), "input_tokens=1000000&output_tokens=0"))[1] == "$0.66"
    assert calculator(get(at(30, 4, 0), "input_tokens=1000000&output_tokens=0"))[1] == "$0.66"
    assert calculator(get(at(30, 9, 59), "input_tokens=1000000&output_tokens=0"))[1] == "$1.32"


def test_cache_writes_are_a_share_of_the_input_at_the_tiers_cache_write_price(get):
    html = get(at(30, 12, 30), "input_tokens=250000&cached_percent=40&cache_write_percent=20&output_tokens=1000"
               "&reasoning_tokens=400")  # fmt: skip
    # sonnet above 200,000: 100,000 × 6e-6 + 100,000 × 0.6e-6 + 50,000 × 7.5e-6 + 1,000 × 22.5e-6
    #   (the 400 reasoning tokens are part of the 1,000 output, at the output price: no reasoning price)
    # deepseek (no cache-write price: writes at the input price): 150,000 × 0.66e-6 + 100,000 × 0.022e-6
    #   + 1,000 × 1.98e-6
    assert calculator(html) == ["$1.06", "$0.103"]


def build_traffic(member) -> None:
    """Five requests by the member, all served by claude-sonnet-4 (what they are re-priced at is compared)."""
    key = make_key("mine", member)
    rows = [
        (at(29, 2, 5), {"prompt_tokens": 250000, "completion_tokens": 1000}),
        (at(28, 12, 30), {"prompt_tokens": 200000, "completion_tokens": 1000}),
        (at(28, 6, 0), {"prompt_tokens": 100, "cache_write_tokens": 50, "cache_write_1h_tokens": 20,
                        "completion_tokens": 10, "reasoning_tokens": 4}),
        (at(27, 9, 59), {"prompt_tokens": 1000}),
        (at(27, 10, 0), {"prompt_tokens": 1000}),
    ]  # fmt: skip
    for moment, tokens in rows:
        add_entry(moment, api_key=key, model=SONNET, reported_cost=D("0.01"), **tokens)


# sonnet: 1.5225 (tier) + 0.615 + 0.0005325 + 0.003 + 0.003, where the small row is 50 × 3e-6 + 30 × 3.75e-6
#   + 20 × 6e-6 (one-hour writes) + 6 × 15e-6 + 4 × 15e-6 (reasoning inside the output)
# deepseek: 0.33396 (02:05, doubled) + 0.13398 (12:30) + 100 × 1.32e-6 + 10 × 3.96e-6 (06:00, doubled)
#   + 0.00132 (09:59, doubled) + 0.00066 (10:00, base)
SONNET_TRAFFIC = D("2.1440325")
DEEPSEEK_TRAFFIC = D("0.4700916")


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rolled up"])
def test_traffic_is_repriced_row_by_row_at_its_own_size_and_time(get, member, time_machine, rolled_up):
    build_traffic(member)
    if rolled_up:  # hourly rollups at the base tier, the rows above 200,000 tokens corrected from the ledger
        time_machine.move_to(NOW, tick=False)
        rollup_catch_up(now=NOW)
    html = get(NOW, "days=30")
    assert "5 requests: 452,100 input tokens (0 cached, 50 cache writes, 20 of them one-hour)" in html
    assert '<strong id="actual-cost">$0.05</strong>' in html
    assert repriced(html) == ["$2.14", "$0.47"]
    assert 'id="traffic-rolled-up"' not in html


def test_the_selector_is_exact(member, time_machine):
    time_machine.move_to(NOW, tick=False)
    build_models()
    build_traffic(member)
    by_id = {row.model.model_id: row.schedule for row in catalogue_models(model_ids=[SONNET, DEEPSEEK])}
    assert (by_id[SONNET].tiered, by_id[SONNET].timed, by_id[DEEPSEEK].tiered, by_id[DEEPSEEK].timed) == (
        True,
        False,
        False,
        True,
    )
    result = traffic_repriced(user=member, schedules=[by_id[SONNET], by_id[DEEPSEEK]], now=NOW)
    assert result.costs == [SONNET_TRAFFIC, DEEPSEEK_TRAFFIC]
    assert result.totals.requests == 5
    # a plain schedule: the same sums at one price, 452,100 × 1e-6 + 2,010 × 2e-6 (writes at the input price)
    plain = PriceSchedule.of({"prompt": D("0.000001"), "completion": D("0.000002")})
    assert traffic_repriced(user=member, schedules=[plain], now=NOW).costs == [D("0.45612")]


def test_past_the_retention_the_rollups_are_repriced_at_each_hours_prices(get, member, settings):
    build_traffic(member)
    settings.LEDGER_RETENTION_DAYS = 2
    rollup_catch_up(now=NOW)
    assert (
        ledger_prune(now=NOW).deleted == 3
    )  # the rows before 11-28 12:30; the page reads hours before 13:00
    # from the rollups (the 12:30 row included), the rest raw
    html = get(NOW, "days=30")
    # one request per rolled-up hour: its average is its size, its hour's prices are its own
    assert repriced(html) == ["$2.14", "$0.47"]
    assert "5 requests: 452,100 input tokens" in html
    assert (
        '<p class="muted" id="traffic-rolled-up">Traffic before 2026-11-28 13:00 UTC is past the ledger'
        "'s 2-day raw-row retention" in html
    )


def test_the_model_page_shows_its_traffic_at_todays_prices(client, member, time_machine):
    time_machine.move_to(NOW, tick=False)
    build_models()
    build_traffic(member)
    client.force_login(member)
    html = client.get(f"/models/{SONNET}/").content.decode()
    assert '<div class="value" id="traffic-at-today">$2.14</div>' in html


def test_a_window_edge_inside_an_hour_reads_that_traffic_raw_even_when_rolled_up(
    client, member, time_machine
):
    time_machine.move_to(NOW, tick=False)
    make_model("half/hour", prices=[(T0, {"prompt": "0.000001", "completion": "0", "overrides": [
        {"utc_start": 1030, "utc_end": 1100, "prompt": "0.000002"},
    ]})])  # fmt: skip
    make_model("plain/one", prices=[(T0, {"prompt": "0.000001", "completion": "0"})])
    key = make_key("mine", member)
    add_entry(at(29, 10, 15), api_key=key, prompt_tokens=1000)
    add_entry(at(29, 10, 45), api_key=key, prompt_tokens=1000)
    rollup_catch_up(now=NOW)
    client.force_login(member)
    html = client.get("/compare/?models=half/hour,plain/one").content.decode()
    # 1,000 × 1e-6 at 10:15, 1,000 × 2e-6 at 10:45 (in [10:30, 11:00))
    assert repriced(html) == ["$0.003", "$0.002"]


def test_a_range_within_the_retention_says_nothing_of_rollups(get, member, settings):
    build_traffic(member)
    settings.LEDGER_RETENTION_DAYS = 2
    rollup_catch_up(now=NOW)
    html = get(NOW, "days=2")  # from 11-28 12:30: every row in it is kept raw
    assert 'id="traffic-rolled-up"' not in html
    assert repriced(html) == ["$2.14", "$0.468"]  # the 02:05 and 12:30 rows
    html = get(NOW, "days=3")
    assert 'id="traffic-rolled-up"' in html
