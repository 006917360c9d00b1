"""Alert rules evaluated: each fires exactly once when its condition starts (again at a higher budget level)
and once when it resolves, with the exact message; reminders only when asked for. Deliveries go to a Slack
channel on a loopback receiver."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from usage.models import Upstream, UpstreamProbe

from .alerts_fixtures import evaluate, make_rule
from .spend_data import entry, make_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


def spend(key, at, cost):
    entry(at, api_key=key, reported_cost=Decimal(cost), computed_cost=Decimal(cost))


def test_a_budget_rule_fires_at_each_threshold_once_and_resolves_when_the_period_resets(slack, http_receiver):
    key = make_key("alpha", budget_usd=Decimal("50"), budget_period="monthly")
    make_rule(slack, name="budgets", kind="budget", thresholds=[50, 80, 100])
    spend(key, datetime(2026, 11, 10, tzinfo=UTC), "10")
    assert evaluate(NOW) == []
    spend(key, datetime(2026, 11, 20, tzinfo=UTC), "15")
    fired_50 = (
        "fired",
        "Key alpha: 50% of its budget spent",
        "Key alpha (tl-alpha…) has spent $25.00 of its monthly budget of $50.00 (50.0%) since 2026-11-01 00:00 UTC;"
        " the budget resets 2026-12-01 00:00 UTC.",
    )
    assert evaluate(NOW) == [fired_50]
    assert evaluate(NOW + timedelta(minutes=1)) == []
    spend(key, datetime(2026, 11, 30, 12, 0, tzinfo=UTC), "16")
    assert evaluate(NOW + timedelta(minutes=2)) == [
        (
            "fired",
            "Key alpha: 80% of its budget spent",
            "Key alpha (tl-alpha…) has spent $41.00 of its monthly budget of $50.00 (82.0%) since 2026-11-01 00:00"
            " UTC; the budget resets 2026-12-01 00:00 UTC.",
        )
    ]
    assert evaluate(NOW + timedelta(minutes=3)) == []
    next_month = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
    assert evaluate(next_month) == [
        (
            "resolved",
            "Key alpha: back under 50% of its budget",
            "Key alpha (tl-alpha…) has spent $0.00 of its monthly budget of $50.00 (0.0%) since 2026-12-01 00:00 UTC;"
            " the budget resets 2027-01-01 00:00 UTC.",
        )
    ]
    assert evaluate(next_month + timedelta(minutes=1)) == []
    texts = [json.loads(request.body)["text"] for request in http_receiver.requests]
    assert len(texts) == 3
    assert texts[0] == f"*{fired_50[1]}*\n{fired_50[2]}"


def test_a_reminder_is_sent_only_when_the_rule_asks_for_one(slack):
    key = make_key("alpha", budget_usd=Decimal("10"), budget_period="none")
    spend(key, datetime(2026, 11, 20, tzinfo=UTC), "6")
    make_rule(slack, name="quiet", kind="budget", thresholds=[50])
    make_rule(slack, name="nagging", kind="budget", thresholds=[50], reminder_minutes=60)
    text = "Key alpha (tl-alpha…) has spent $6.00 of its budget of $10.00 (no reset) (60.0%)."
    title = "Key alpha: 50% of its budget spent"
    assert evaluate(NOW) == [("fired", title, text)] * 2
    assert evaluate(NOW + timedelta(minutes=59)) == []
    assert evaluate(NOW + timedelta(minutes=60)) == [("reminder", f"Reminder: {title}", text)]
    assert evaluate(NOW + timedelta(minutes=61)) == []
    assert evaluate(NOW + timedelta(minutes=120)) == [("reminder", f"Reminder: {title}", text)]


def test_a_forecast_rule_fires_when_the_budget_runs_out_within_n_days(slack):
    key = make_key("beta", budget_usd=Decimal("100"), budget_period="none")
    make_rule(slack, name="forecast", kind="forecast", days=4)
    spend(key, datetime(2026, 11, 25, 8, 0, tzinfo=UTC), "70")  # $10 a day over the last 7 days
    assert evaluate(NOW) == [
        (
            "fired",
            "Key beta: budget runs out within 4 days",
            "Key beta (tl-beta…) spends $10.00 a day (average of the last 7 days): $30.00 of its budget of $100.00"
            " (no reset) is left, which runs out around 2026-12-03 12:00 UTC.",
        )
    ]
    assert evaluate(NOW + timedelta(minutes=1)) == []
    key.budget_usd = Decimal("1000")
    key.save(update_fields=["budget_usd"])
    assert evaluate(NOW + timedelta(minutes=2)) == [
        (
            "resolved",
            "Key beta: budget no longer runs out within 4 days",
            "Key beta (tl-beta…) spends $10.00 a day (average of the last 7 days): $930.00 of its budget of"
            " $1000.00 (no reset) is left; runs out around 2027-03-03 12:00 UTC.",
        )
    ]
    assert evaluate(NOW + timedelta(minutes=3)) == []


def probe(upstream, minutes, ok, ms=None, error=""):
    UpstreamProbe.objects.create(
        upstream=upstream, checked_at=NOW + timedelta(minutes=minutes), ok=ok, latency_ms=ms, error=error
    )


def test_an_upstream_rule_fires_after_m_failed_probes_and_when_it_is_back_up(slack):
    local = Upstream.objects.create(name="local", base_url="http://127.0.0.1:8001/v1", model_prefix="local/")
    make_rule(slack, name="upstreams", kind="upstream_down", probes=3)
    probe(local, 0, True, 40)
    probe(local, 5, False, error="cannot connect: ConnectError")
    probe(local, 10, False, error="cannot connect: ConnectError")
    assert evaluate(NOW + timedelta(minutes=11)) == []
    probe(local, 15, False, error="HTTP 502 Bad Gateway")
    down = (
        "fired",
        "Upstream local is down",
        "Upstream local (http://127.0.0.1:8001/v1) failed its last 3 probes; the latest, at 2026-11-30 12:45 UTC:"
        " HTTP 502 Bad Gateway.",
    )
    assert evaluate(NOW + timedelta(minutes=16)) == [down]
    probe(local, 20, False, error="HTTP 502 Bad Gateway")
    assert evaluate(NOW + timedelta(minutes=21)) == []
    probe(local, 25, True, 42)
    assert evaluate(NOW + timedelta(minutes=26)) == [
        (
            "resolved",
            "Upstream local is back up",
            "Upstream local (http://127.0.0.1:8001/v1) answered the probe at 2026-11-30 12:55 UTC in 42 ms.",
        )
    ]
    probe(local, 30, False, error="HTTP 502 Bad Gateway")
    assert evaluate(NOW + timedelta(minutes=31)) == []


def test_the_command_evaluates_and_delivers(slack, http_receiver, capsys):
    key = make_key("alpha", budget_usd=Decimal("10"), budget_period="none")
    make_rule(slack, name="budgets", kind="budget", thresholds=[100])
    spend(key, NOW - timedelta(days=1), "12")
    with time_machine.travel(NOW, tick=True):
        call_command("evaluate_alerts")
        call_command("evaluate_alerts")
    assert capsys.readouterr().out == (
        "alerts ok: rules=1 fired=1 resolved=0 reminders=0 sent=1 failed=0 given_up=0\n"
        "alerts ok: rules=1 fired=0 resolved=0 reminders=0 sent=0 failed=0 given_up=0\n"
    )
    [request] = http_receiver.requests
    assert json.loads(request.body)["text"] == (
        "*Key alpha: 100% of its budget spent*\n"
        "Key alpha (tl-alpha…) has spent $12.00 of its budget of $10.00 (no reset) (120.0%)."
    )
