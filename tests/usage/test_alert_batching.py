"""An evaluation reads what its rules share once: more rules of a kind (and keys with other budget periods)
add no query. Every kind has a condition on, so each rule's whole path is read (baselines, key names, probes,
states); the steady-state evaluation after the alerts fired is counted."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from usage.models import Alert, LedgerEntry, Upstream, UpstreamProbe
from usage.services.alerts.evaluate import alerts_evaluate
from usage.services.rollups import rollup_catch_up

from .alerts_fixtures import make_rule
from .spend_data import entry, make_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
RULES = (  # each holds for one subject at NOW
    dict(kind="budget", thresholds=[50, 80]),
    dict(kind="forecast", days=3),
    dict(kind="spend_spike", scope="key", window="hour", factor=3, min_amount=1),
    dict(kind="spend_spike", scope="model", window="day", factor=3, min_amount=1),
    dict(kind="error_spike", scope="model", error_percent=10, min_requests=2),
    dict(kind="error_spike", scope="upstream", error_percent=10, min_requests=2),
    dict(kind="upstream_down", probes=2),
)


def spend(at, cost, **fields):
    entry(at, reported_cost=Decimal(cost), computed_cost=Decimal(cost), **fields)


@pytest.fixture
def traffic():
    """Four keys, one per budget period; a week of baseline spend in the rollups, a spike in the last hour."""
    keys = [
        make_key(period, budget_usd=Decimal(budget), budget_period=period)
        for period, budget in (("daily", "3.5"), ("weekly", "100"), ("monthly", "400"), ("none", "1000"))
    ]
    for hour in range(1, 8 * 24):
        spend(NOW - timedelta(hours=hour), "0.1", api_key=keys[hour % 4], model="openai/gpt-4o")
    rollup_catch_up(now=NOW)
    # The daily key: over 80 % of its $3.50, running out today, its hour above 3x its median ($0); claude too.
    spend(NOW - timedelta(minutes=20), "3", api_key=keys[0], model="anthropic/claude-sonnet-4")
    entry(NOW - timedelta(minutes=5), api_key=keys[1], status=LedgerEntry.Status.ERROR)
    entry(NOW - timedelta(minutes=5), api_key=keys[1], status=LedgerEntry.Status.ERROR)
    local = Upstream.objects.create(name="local", base_url="http://127.0.0.1:8001/v1", model_prefix="local/")
    for minutes in (3, 2):
        UpstreamProbe.objects.create(upstream=local, checked_at=NOW - timedelta(minutes=minutes), ok=False)
    return keys


def add_rules(slack, copy: int) -> None:
    for index, spec in enumerate(RULES):
        make_rule(slack, name=f"rule {copy} {index}", **spec)


def evaluated_twice() -> tuple[list[tuple[str, str]], int]:
    """The (rule kind, subject) of each alert the first evaluation fired, and the queries of the second."""
    fired = alerts_evaluate(now=NOW).alert_ids
    with CaptureQueriesContext(connection) as queries:
        result = alerts_evaluate(now=NOW)
    assert (result.fired, result.resolved) == (0, 0)
    alerts = Alert.objects.filter(pk__in=fired).select_related("rule").order_by("rule__kind", "subject")
    return [(alert.rule.kind, alert.subject) for alert in alerts], len(queries)


def test_more_rules_of_a_kind_add_no_query(slack, traffic):
    daily = f"key:{traffic[0].pk}"
    local = Upstream.objects.get(name="local")
    on = [
        ("budget", daily),
        ("error_spike", "model:openai/gpt-4o"),
        ("error_spike", "upstream:openrouter"),
        ("forecast", daily),
        ("spend_spike", daily),
        ("spend_spike", "model:anthropic/claude-sonnet-4"),
        ("spend_spike", "model:openai/gpt-4o"),
        ("upstream_down", f"upstream:{local.pk}"),
    ]
    add_rules(slack, 0)
    fired, queries = evaluated_twice()
    assert fired == on
    add_rules(slack, 1)
    add_rules(slack, 2)
    fired, queries_of_three = evaluated_twice()
    assert fired == sorted(on * 2)  # the new copies' alerts (the first copy's conditions are on already)
    assert queries_of_three == queries
