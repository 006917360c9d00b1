"""/: the overview's figures, exact, for an admin, a member and an outsider; read from the raw ledger and, once
rolled up, from the rollups alike; every figure links to its page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.models import SyncRun
from tests.conftest import PASSWORD
from tests.usage.spend_data import NOW, at, build_ledger, entry, make_key
from usage.models import ApiKey
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def ledger(admin_user, member, time_machine):
    """spend_data's five requests of today, plus one before each of the ranges' previous periods."""
    time_machine.move_to(NOW, tick=False)
    built = build_ledger(member=member, admin=admin_user)
    ops = ApiKey.objects.get(name="ops")
    beta = make_key("beta", member, budget_usd=D("0.01"), budget_period=ApiKey.Period.NONE)
    entry(at(8, 0, day=29), api_key=ops, reported_cost=D("0.01"), computed_cost=D("0.01"))
    entry(at(13, 0, day=29), api_key=beta, model="anthropic/claude-sonnet-4", reported_cost=D("0.008"))
    entry(at(10, 0, day=20), api_key=ops, reported_cost=D("0.05"))
    entry(datetime(2026, 10, 15, 10, 0, tzinfo=UTC), api_key=ops, reported_cost=D("0.1"))
    SyncRun.objects.create(
        source="test",
        started_at=datetime(2026, 11, 25, 6, 0, tzinfo=UTC),
        status=SyncRun.Status.OK,
        repriced=1,
        retired=1,
        changes={
            "repriced": [{"model_id": "openai/gpt-4o", "old": {}, "new": {}}],
            "retired": ["meta/unused"],
        },
    )
    return built


def overview(client, user):
    client.login(username=user.username, password=PASSWORD)
    response = client.get("/")
    assert response.status_code == 200
    return response


def figures(response) -> dict:
    return {
        p["figures"].name: (
            p["figures"].totals.cost,
            p["figures"].totals.requests,
            p["figures"].totals.failed,
            p["figures"].previous.cost,
            p["figures"].cost_change,
        )
        for p in response.context["periods"]
    }


ADMIN = {
    "today": (D("0.0143"), 5, 2, D("0.01"), D("0.43")),
    "7d": (D("0.0323"), 7, 2, D("0.05"), D("-0.354")),
    "30d": (D("0.0823"), 8, 2, D("0.1"), D("-0.177")),
}
MEMBER = {
    "today": (D("0.0122"), 3, 1, D(0), None),
    "7d": (D("0.0202"), 4, 1, D(0), None),
    "30d": (D("0.0202"), 4, 1, D(0), None),
}


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rollups"])
def test_an_admin_sees_every_keys_spend_against_the_period_before(client, admin_user, ledger, rolled_up):
    if rolled_up:
        rollup_catch_up()
    response = overview(client, admin_user)

    assert figures(response) == ADMIN
    models = [(m["group"].label, m["group"].totals.cost) for m in response.context["top_models"]]
    assert models == [("openai/gpt-4o", D("0.064")), ("anthropic/claude-sonnet-4", D("0.0183"))]
    keys = [(k["group"].label, k["group"].totals.cost) for k in response.context["top_keys"]]
    assert [label.split(" ")[0] for label, _ in keys] == ["ops", "alpha", "beta"]
    assert [cost for _, cost in keys] == [D("0.0621"), D("0.0122"), D("0.008")]
    html = response.content.decode()
    assert '<a class="value" href="/spend/?range=today" data-figure="cost">$0.0143</a>' in html
    assert "▲ 43.0% vs $0.0100" not in html  # one way to show money: $0.01, never padded
    assert "▲ 43.0% vs $0.01" in html
    assert "▼ 35.4% vs $0.05" in html
    assert 'href="/activity/?status=error&amp;start=2026-11-30"' in html
    assert 'href="/activity/?model=openai%2Fgpt-4o&amp;start=2026-10-31"' in html


def test_a_member_sees_only_their_own_keys(client, member, ledger):
    response = overview(client, member)

    assert figures(response) == MEMBER
    keys = [k["group"].label.split(" ")[0] for k in response.context["top_keys"]]
    assert keys == ["alpha", "beta"]
    assert "ops" not in response.content.decode()
    assert "no spend the period before" in response.content.decode()


def test_an_outsider_sees_zeros_and_no_changes(client, outsider, ledger):
    response = overview(client, outsider)

    assert figures(response) == {name: (D(0), 0, 0, D(0), None) for name in ("today", "7d", "30d")}
    assert response.context["top_models"] == []
    assert response.context["running_out"] == []
    assert response.context["changes"] == []


def test_a_key_that_runs_out_before_its_period_resets_is_listed_with_its_forecast(client, member, ledger):
    response = overview(client, member)

    # beta: $0.002 left of $0.01, at $0.008 / 7 days it lasts 1.75 days; alpha lasts past its month.
    [row] = response.context["running_out"]
    assert (row.key.name, row.remaining, row.runs_out_at) == (
        "beta",
        D("0.002"),
        datetime(2026, 12, 2, 6, 30, tzinfo=UTC),
    )
    html = response.content.decode()
    assert f'href="/keys/#key-{row.key.id}">beta</a>' in html
    assert "runs out around 2026-12-02 06:00 UTC" in html
    assert "($0.002 left of $0.01, $0.00114/day)" in html


def test_repricings_and_retirements_of_the_models_one_uses_are_listed(client, member, ledger):
    response = overview(client, member)

    changes = [(c.model_id, c.kind) for c in response.context["changes"]]
    assert changes == [("openai/gpt-4o", "repriced")]  # meta/unused was retired, but nobody uses it
    assert '<a href="/models/openai/gpt-4o/">openai/gpt-4o</a>' in response.content.decode()


@pytest.mark.parametrize(
    "before, today, shown",
    [
        (D("0.01"), D("0.0999"), "▲ 899.0% vs $0.01"),
        (D("0.01"), D("0.1"), "▲ ×10 vs $0.01"),  # tenfold: a multiple from here on
        (D("0.01"), D("0.105"), "▲ ×11 vs $0.01"),  # to the nearest whole, halves up
        (D("0.0000041"), D("0.1001"), "▲ ×24,415 vs $0.0000041"),  # not "▲ 2441363.4%"
        (D("0.05"), D("0.0323"), "▼ 35.4% vs $0.05"),
        (D("0.01"), None, "▼ 100.0% vs $0.01"),
        (D("0.01"), D("0.01"), "0.0% vs $0.01"),
        (None, D("0.01"), "no spend the period before"),
    ],
    ids=["899%", "tenfold", "halves up", "tiny before", "fall", "to nothing", "flat", "nothing before"],
)
def test_the_change_against_the_period_before_reads_as_a_multiple_from_tenfold_on(
    client, member, time_machine, before, today, shown
):
    time_machine.move_to(NOW, tick=False)
    key = make_key("solo", member)
    for day, cost in ((29, before), (30, today)):
        if cost is not None:
            entry(at(8, 0, day=day), api_key=key, reported_cost=cost)

    html = overview(client, member).content.decode()

    card = html[html.index('data-period="today"') : html.index('data-period="7d"')]
    text = re.search(r'data-figure="change"\s+title="[^"]*">(.*?)</div>', card, re.S)[1]
    assert " ".join(re.sub(r"<[^>]+>", "", text).split()) == shown
