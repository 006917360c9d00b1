"""The one price function (catalog.price_schedule) against every model of the bundled snapshot that has
`pricing.overrides`: prompt sizes around each threshold, moments around each time window's edges.

Each case's cost is compared with an independent calculation written here, in Fractions from the listing's
strings, to 1e-9 USD. OpenRouter's rules (its SDKs' PricingOverride type): `min_prompt_tokens` applies when
the prompt is strictly greater; `utc_start`/`utc_end` are HHMM clock numbers of a half-open UTC window that
wraps past midnight when start > end.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from catalog.payload import parse_payload
from catalog.price_schedule import PriceSchedule, clock_minutes, effective_prices, parse_overrides
from catalog.services.sync import SEED_PATH
from usage.costs import computed_cost

LISTING = json.loads(gzip.decompress(SEED_PATH.read_bytes()))["data"]
WITH_OVERRIDES = [item for item in LISTING if item["pricing"].get("overrides")]
ENTRIES = {entry.model_id: entry for entry in parse_payload({"data": WITH_OVERRIDES})}
OUTPUT_TOKENS = 1000
DAY = datetime(2026, 8, 19, tzinfo=UTC)


def at_minute(minute: int) -> datetime:
    return DAY.replace(hour=minute // 60, minute=minute % 60)


def hhmm_minutes(value: int) -> int:
    return (value // 100) * 60 + value % 100


def in_window(minute: int, start: int, end: int) -> bool:
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def expected_cost(pricing: dict, prompt_tokens: int, cached: int, minute: int) -> Fraction:
    """The cost from the listing's strings: base, then each entry whose conditions hold, later ones winning."""
    prices = {key: value for key, value in pricing.items() if key != "overrides"}
    for entry in pricing["overrides"]:
        if "min_prompt_tokens" in entry and not prompt_tokens > entry["min_prompt_tokens"]:
            continue
        if "utc_start" in entry and not in_window(
            minute, hhmm_minutes(entry["utc_start"]), hhmm_minutes(entry["utc_end"])
        ):
            continue
        prices.update(
            {k: v for k, v in entry.items() if k not in ("min_prompt_tokens", "utc_start", "utc_end")}
        )
    prompt = Fraction(prices["prompt"])
    read = Fraction(prices.get("input_cache_read", "0")) or prompt
    return (
        (prompt_tokens - cached) * prompt
        + cached * read
        + OUTPUT_TOKENS * Fraction(prices["completion"])
        + Fraction(prices.get("request", "0"))
    )


def cases():
    for item in WITH_OVERRIDES:
        model_id, pricing = item["id"], item["pricing"]
        thresholds = sorted(
            {o["min_prompt_tokens"] for o in pricing["overrides"] if "min_prompt_tokens" in o}
        )
        windows = [
            (hhmm_minutes(o["utc_start"]), hhmm_minutes(o["utc_end"]))
            for o in pricing["overrides"]
            if "utc_start" in o
        ]
        sizes = {1000} | {size for t in thresholds for size in (t - 1, t, t + 1)}
        minutes = {12 * 60} | {
            m % 1440 for start, end in windows for m in (start - 1, start, start + 1, end - 1, end)
        }
        for size in sorted(sizes):
            for minute in sorted(minutes):
                yield pytest.param(
                    model_id, size, minute, id=f"{model_id}-{size}-{minute // 60:02d}{minute % 60:02d}"
                )


CASES = list(cases())


def test_the_bundled_snapshot_has_the_overrides_the_issue_counted():
    by_size = [m for m in WITH_OVERRIDES if any("min_prompt_tokens" in o for o in m["pricing"]["overrides"])]
    timed = [m for m in WITH_OVERRIDES if any("utc_start" in o for o in m["pricing"]["overrides"])]
    windows = sum(len(m["pricing"]["overrides"]) for m in timed)
    assert (len(WITH_OVERRIDES), len(by_size), len(timed), windows) == (61, 59, 2, 8)
    assert len(CASES) == 277  # 59 models × 4 prompt sizes, 2 timed models × 20 moments + 1 size


@pytest.mark.parametrize(("model_id", "prompt_tokens", "minute"), CASES)
def test_cost_matches_an_independent_calculation(model_id, prompt_tokens, minute):
    entry = ENTRIES[model_id]
    pricing = next(item["pricing"] for item in WITH_OVERRIDES if item["id"] == model_id)
    cached = prompt_tokens // 10
    prices = effective_prices(
        entry.prices, entry.overrides, prompt_tokens=prompt_tokens, at=at_minute(minute)
    )
    cost = computed_cost(
        prices, prompt_tokens=prompt_tokens, cached_tokens=cached, completion_tokens=OUTPUT_TOKENS
    )
    assert abs(Fraction(cost) - expected_cost(pricing, prompt_tokens, cached, minute)) <= Fraction(1, 10**9)


def test_claude_sonnet_4_long_context_is_priced_at_its_tier():
    entry = ENTRIES["anthropic/claude-sonnet-4"]
    moment = DAY.replace(hour=9)

    def cost(prompt_tokens):
        prices = effective_prices(entry.prices, entry.overrides, prompt_tokens=prompt_tokens, at=moment)
        return computed_cost(prices, prompt_tokens=prompt_tokens, completion_tokens=1000)

    assert cost(250_000) == Decimal("1.5225")  # 250 000 × $6/M + 1 000 × $22.5/M
    assert cost(200_000) == Decimal("0.615")  # not above the threshold: base, 200 000 × $3/M + 1 000 × $15/M
    assert cost(200_001) == Decimal("1.2225060")


@pytest.mark.parametrize(
    ("hhmm", "prices"),
    [
        (959, ("0.00000132", "0.00000396")),  # 06:00-10:00 peak, last minute
        (1000, ("0.00000066", "0.00000198")),  # 10:00-01:00 off-peak, first minute
        (2359, ("0.00000066", "0.00000198")),  # crossing midnight
        (0, ("0.00000066", "0.00000198")),
        (59, ("0.00000066", "0.00000198")),
        (100, ("0.00000132", "0.00000396")),  # 01:00: the off-peak window's end is exclusive
        (359, ("0.00000132", "0.00000396")),
        (400, ("0.00000066", "0.00000198")),
        (559, ("0.00000066", "0.00000198")),
        (600, ("0.00000132", "0.00000396")),
    ],
)
def test_deepseek_v4_pro_time_windows_both_sides_of_each_edge(hhmm, prices):
    entry = ENTRIES["deepseek/deepseek-v4-pro"]
    moment = DAY.replace(hour=hhmm // 100, minute=hhmm % 100, second=59)
    effective = PriceSchedule.of(entry.prices, entry.overrides).at(10, moment)
    assert (effective["prompt"], effective["completion"]) == tuple(Decimal(p) for p in prices)


def test_a_moment_in_another_timezone_is_read_in_utc():
    from zoneinfo import ZoneInfo

    entry = ENTRIES["deepseek/deepseek-v4-pro"]
    moment = datetime(2026, 8, 19, 4, 30, tzinfo=ZoneInfo("Europe/Paris"))  # 02:30 UTC: peak
    assert PriceSchedule.of(entry.prices, entry.overrides).at(10, moment)["prompt"] == Decimal("0.00000132")


def test_later_entries_win_per_key_and_missing_keys_inherit():
    base = {"prompt": Decimal("1"), "completion": Decimal("2"), "input_cache_read": Decimal("0.5")}
    overrides = [
        {"min_prompt_tokens": 10, "prompt": "3", "completion": "4"},
        {"min_prompt_tokens": 20, "prompt": "5"},
    ]
    schedule = PriceSchedule.of(base, overrides)
    assert schedule.at(10, DAY) == base
    assert schedule.at(11, DAY) == {**base, "prompt": Decimal(3), "completion": Decimal(4)}
    assert schedule.at(21, DAY) == {**base, "prompt": Decimal(5), "completion": Decimal(4)}
    assert (schedule.tiered, schedule.timed) == (True, False)


def test_entries_that_cannot_be_read_never_apply():
    base = {"prompt": Decimal("1"), "completion": Decimal("2")}
    overrides = [
        {"min_batch_size": 5, "prompt": "9"},  # an unknown condition
        {"utc_start": 2500, "utc_end": 100, "prompt": "9"},  # not a clock time
        {"min_prompt_tokens": "lots", "prompt": "9"},
        "not an object",
        {"prompt": "-1"},  # variable: applies, as None
    ]
    assert PriceSchedule.of(base, overrides).at(10**6, DAY) == {"prompt": None, "completion": Decimal(2)}
    assert parse_overrides({"not": "a list"}) == ()


@pytest.mark.parametrize(
    ("value", "minutes"),
    [(0, 0), (100, 60), (1030, 630), (2359, 1439), (2400, 1440), (2460, None), (175, None)],
)
def test_hhmm_clock_numbers(value, minutes):
    assert clock_minutes(value, default=-1) == minutes


def test_one_hour_cache_writes_are_costed_at_their_own_price():
    entry = ENTRIES["anthropic/claude-sonnet-4"]  # write $3.75/M, one-hour write $6/M, base input $3/M
    cost = computed_cost(
        entry.prices,
        prompt_tokens=10_000,
        cache_write_tokens=4_000,
        cache_write_1h_tokens=1_000,
        completion_tokens=100,
    )
    # 6 000 × 3 + 3 000 × 3.75 + 1 000 × 6 per M, + 100 × 15 per M
    assert cost == Decimal("0.018") + Decimal("0.01125") + Decimal("0.006") + Decimal("0.0015")
