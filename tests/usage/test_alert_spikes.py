"""Spike rules: spend per key (last hour against the median hour of the previous 7 days, read from the
rollups and the raw tail) and per model (last day against the median day of 28), and error rates per model or
upstream over 15 minutes: each fires once when it starts and once when it resolves, with the exact message."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from usage.models import LedgerEntry
from usage.services.rollups import rollup_catch_up

from .alerts_fixtures import evaluate, make_rule
from .spend_data import entry, make_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


def spend(at, cost, **fields):
    entry(at, reported_cost=Decimal(cost), computed_cost=Decimal(cost), **fields)


def test_a_key_spend_spike_against_the_median_hour_of_the_week(slack, http_receiver):
    key = make_key("alpha")
    make_rule(slack, name="spikes", kind="spend_spike", scope="key", window="hour", factor=3, min_amount=2)
    baseline_end = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    for hour in range(1, 7 * 24 + 1):
        spend(baseline_end - timedelta(hours=hour) + timedelta(minutes=20), "0.5", api_key=key)
    rollup_catch_up(now=NOW)  # the baseline from the hourly and daily rollups
    spend(datetime(2026, 11, 30, 12, 5, tzinfo=UTC), "1", api_key=key)
    assert evaluate(NOW) == []
    spend(datetime(2026, 11, 30, 12, 10, tzinfo=UTC), "2", api_key=key)
    assert evaluate(NOW) == [
        (
            "fired",
            "Spend spike: key alpha",
            "Key alpha (tl-alpha…) spent $3.00 in the last hour; the median hour of the previous 7 days was $0.50"
            " (the rule alerts above 3× that and $2.00).",
        )
    ]
    assert evaluate(NOW + timedelta(minutes=5)) == []
    later = NOW + timedelta(hours=1, minutes=1)
    assert evaluate(later) == [
        (
            "resolved",
            "Spend back to normal: key alpha",
            "Key alpha (tl-alpha…) spent $0.00 in the last hour; the median hour of the previous 7 days was $0.50"
            " (the rule alerts above 3× that and $2.00).",
        )
    ]
    assert evaluate(later + timedelta(minutes=1)) == []
    assert len(http_receiver.requests) == 2


def test_a_model_spend_spike_against_the_median_day_of_four_weeks(slack):
    make_rule(
        slack, name="models", kind="spend_spike", scope="model", window="day", factor="2.5", min_amount=5
    )
    first_day = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # baseline: the 28 days before Nov 29 (NOW - 1 day)
    for day in range(28):
        spend(first_day + timedelta(days=day), "2", model="openai/gpt-4o")
        spend(first_day + timedelta(days=day), "1", model="anthropic/claude-sonnet-4")
    spend(datetime(2026, 11, 30, 1, 0, tzinfo=UTC), "6", model="openai/gpt-4o")  # 3× its median day
    spend(datetime(2026, 11, 30, 1, 0, tzinfo=UTC), "2.5", model="anthropic/claude-sonnet-4")  # under $5
    assert evaluate(NOW) == [
        (
            "fired",
            "Spend spike: model openai/gpt-4o",
            "Model openai/gpt-4o spent $6.00 in the last day; the median day of the previous 28 days was $2.00"
            " (the rule alerts above 2.5× that and $5.00).",
        )
    ]
    assert evaluate(NOW + timedelta(hours=1)) == []
    assert evaluate(NOW + timedelta(hours=13)) == [
        (
            "resolved",
            "Spend back to normal: model openai/gpt-4o",
            "Model openai/gpt-4o spent $0.00 in the last day; the median day of the previous 28 days was $2.00"
            " (the rule alerts above 2.5× that and $5.00).",
        )
    ]


def requests_at(at, count, *, errors=0, status=LedgerEntry.Status.OK, **fields):
    for i in range(count):
        entry(at, status=LedgerEntry.Status.ERROR if i < errors else status, **fields)


def test_a_model_error_spike_over_fifteen_minutes(slack):
    make_rule(slack, name="errors", kind="error_spike", scope="model", error_percent=20, min_requests=10)
    requests_at(NOW - timedelta(minutes=20), 10, errors=10)  # before the window
    requests_at(NOW - timedelta(minutes=10), 9, errors=3)
    requests_at(NOW - timedelta(minutes=10), 5, status=LedgerEntry.Status.REJECTED)  # never sent upstream
    assert evaluate(NOW) == []  # 9 requests: too few to say
    requests_at(NOW - timedelta(minutes=5), 1)
    assert evaluate(NOW) == [
        (
            "fired",
            "Error spike: model openai/gpt-4o",
            "Model openai/gpt-4o: 3 errors in 10 requests in the last 15 minutes (30.0%; the rule alerts above 20%"
            " with at least 10 requests).",
        )
    ]
    assert evaluate(NOW + timedelta(minutes=1)) == []
    assert evaluate(NOW + timedelta(minutes=16)) == [
        (
            "resolved",
            "Errors back to normal: model openai/gpt-4o",
            "Model openai/gpt-4o: no requests in the last 15 minutes.",
        )
    ]
    assert evaluate(NOW + timedelta(minutes=17)) == []


def test_an_upstream_error_spike(slack):
    make_rule(slack, name="errors", kind="error_spike", scope="upstream", error_percent=50, min_requests=4)
    requests_at(NOW - timedelta(minutes=3), 4, errors=3, meta={"upstream": "local"}, model="local/qwen")
    requests_at(NOW - timedelta(minutes=3), 4, errors=1)  # openrouter: no "upstream" in meta
    assert evaluate(NOW) == [
        (
            "fired",
            "Error spike: upstream local",
            "Upstream local: 3 errors in 4 requests in the last 15 minutes (75.0%; the rule alerts above 50%"
            " with at least 4 requests).",
        )
    ]
    requests_at(NOW - timedelta(minutes=1), 4, meta={"upstream": "local"}, model="local/qwen")
    assert evaluate(NOW) == [
        (
            "resolved",
            "Errors back to normal: upstream local",
            "Upstream local: 3 errors in 8 requests in the last 15 minutes (37.5%; the rule alerts above 50%"
            " with at least 4 requests).",
        )
    ]
