"""/spend/: exact totals (cache savings, reported vs computed), per-user visibility, ranges, CSV exports."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import PASSWORD
from tests.usage.spend_data import NOW, at, build_ledger, entry
from usage.models import DailyRollup
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def ledger(admin_user, member, time_machine):
    time_machine.move_to(NOW, tick=False)
    return build_ledger(member=member, admin=admin_user)


def get_spend(client, user, query="range=today"):
    client.login(username=user.username, password=PASSWORD)
    return client.get(f"/spend/?{query}")


def totals_of(response) -> dict:
    t = response.context["report"].totals
    return {
        "requests": t.requests,
        "failed": t.failed,
        "input": t.input_tokens,
        "cache_read": t.cached_tokens,
        "cache_write": t.cache_write_tokens,
        "output": t.output_tokens,
        "reasoning": t.reasoning_tokens,
        "cost": t.cost,
        "reported": t.reported_cost,
        "computed": t.computed_cost,
        "savings": t.cache_savings,
        "disagree": t.costs_disagree,
        "error_rate": t.error_rate,
    }


ADMIN_TOTALS = {
    "requests": 5,
    "failed": 2,
    "input": 1200,
    "cache_read": 1400,
    "cache_write": 500,
    "output": 450,
    "reasoning": 100,
    "cost": D("0.0143"),
    "reported": D("0.0143"),
    "computed": D("0.013225"),
    "savings": D("0.0032"),
    "disagree": True,
    "error_rate": D("0.4"),
}


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rollups + current hour"])
def test_staff_see_exact_totals_whether_rolled_up_or_not(client, admin_user, ledger, rolled_up):
    if rolled_up:
        rollup_catch_up(now=NOW)

    response = get_spend(client, admin_user)

    assert response.status_code == 200
    assert totals_of(response) == ADMIN_TOTALS
    html = response.content.decode()
    assert '<div class="value" id="total-cost">$0.0143</div>' in html
    assert "differ by $0.00108" in html


def test_a_member_sees_only_their_keys(client, member, ledger):
    rollup_catch_up(now=NOW)

    response = get_spend(client, member)

    assert totals_of(response) == {
        "requests": 3,
        "failed": 1,
        "input": 1100,
        "cache_read": 1400,
        "cache_write": 500,
        "output": 400,
        "reasoning": 100,
        "cost": D("0.0122"),
        "reported": D("0.0122"),
        "computed": D("0.012175"),
        "savings": D("0.0032"),
        "disagree": False,
        "error_rate": D(1) / D(3),
    }
    report = response.context["report"]
    assert [g.label for g in report.by_key] == ["alpha (tl-alpha…)"]
    assert {g.label for g in report.by_provider} == {"Anthropic", "OpenAI", "(no provider)"}


def test_an_outsider_sees_no_spend(client, outsider, ledger):
    response = get_spend(client, outsider)

    assert response.status_code == 200
    assert totals_of(response)["requests"] == 0
    assert "No requests in this range." in response.content.decode()


def test_groups_have_shares_and_flag_disagreeing_costs(client, admin_user, ledger):
    rollup_catch_up(now=NOW)

    report = get_spend(client, admin_user).context["report"]

    by_model = [
        (g.label, g.totals.requests, g.totals.cost, g.share, g.totals.costs_disagree) for g in report.by_model
    ]
    assert by_model == [
        ("anthropic/claude-sonnet-4", 2, D("0.0103"), D("0.0103") / D("0.0143"), True),
        ("openai/gpt-4o", 3, D("0.004"), D("0.004") / D("0.0143"), False),
    ]
    by_provider = [(g.label, g.totals.cost) for g in report.by_provider]
    assert by_provider == [
        ("Anthropic", D("0.0103")),
        ("OpenAI", D("0.004")),
        ("(no provider)", D(0)),
        ("Azure", D(0)),
    ]


def test_the_chart_is_hourly_for_today_stacked_by_model(client, admin_user, ledger):
    rollup_catch_up(now=NOW)

    response = get_spend(client, admin_user)

    chart = response.context["chart"]
    assert chart["unit"] == "hour"
    assert chart["labels"][9:13] == [
        "2026-11-30 09:00",
        "2026-11-30 10:00",
        "2026-11-30 11:00",
        "2026-11-30 12:00",
    ]
    assert len(chart["labels"]) == 13
    series = {s["label"]: s["data"][9:13] for s in chart["datasets"]}
    assert {k: [D(v) for v in vals] for k, vals in series.items()} == {
        "anthropic/claude-sonnet-4": [D(0), D("0.0082"), D(0), D("0.0021")],
        "openai/gpt-4o": [D("0.004"), D(0), D(0), D(0)],
    }
    assert 'id="spend-chart-data"' in response.content.decode()


def test_the_chart_is_daily_for_thirty_days(client, admin_user, ledger):
    response = get_spend(client, admin_user, "range=30d")

    chart = response.context["chart"]
    assert chart["unit"] == "day"
    assert chart["labels"][0] == "2026-10-31" and chart["labels"][-1] == "2026-11-30"
    totals = [sum(D(s["data"][-1]) for s in chart["datasets"])]
    assert totals == [D("0.0143")]


def test_a_custom_range_includes_both_days(client, admin_user, ledger):
    response = get_spend(client, admin_user, "range=custom&start=2026-11-29&end=2026-11-30")

    report = response.context["report"]
    assert (report.start.isoformat(), report.end.isoformat()) == (
        "2026-11-29T00:00:00+00:00",
        NOW.isoformat(),
    )
    assert report.totals.requests == 5


@pytest.mark.parametrize(
    "query, message",
    [
        ("range=custom&start=2026-11-30&end=2026-11-01", "To: The end date is before the start date."),
        ("range=custom&start=1900-01-01&end=2026-11-01", "From: Choose a date between 2020-01-01 and today."),
        ("range=custom&start=2026-11-01", "From: A custom range needs a start and an end date."),
        ("range=fortnight", "Range: Select a valid choice. fortnight is not one of the available choices."),
        ("range=custom&start=2026-13-45&end=x", "From: Enter a valid date."),
    ],
)
def test_bad_ranges_get_a_clear_message(client, admin_user, ledger, query, message):
    response = get_spend(client, admin_user, query)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["report"] is None


def test_the_model_table_exports_as_csv(client, admin_user, ledger):
    rollup_catch_up(now=NOW)
    client.login(username="admin", password=PASSWORD)

    response = client.get("/spend/export/model.csv?range=today")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    assert b"".join(response.streaming_content).decode() == (
        "model,requests,failed,input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,"
        "output_tokens,"
        "reasoning_tokens,cost,reported_cost,computed_cost,cache_savings,response_cache_saved,share\r\n"
        "anthropic/claude-sonnet-4,2,0,600,1000,500,0,250,100,0.0103,0.0103,0.009225,0.0027,0,0.7203\r\n"
        "openai/gpt-4o,3,2,600,400,0,0,200,0,0.004,0.004,0.004,0.0005,0,0.2797\r\n"
    )


def test_the_key_table_export_shows_only_own_keys(client, member, ledger):
    client.login(username="member", password=PASSWORD)

    response = client.get("/spend/export/key.csv?range=7d")

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[1:] == [
        "alpha (tl-alpha…),3,1,1100,1400,500,0,400,100,0.0122,0.0122,0.012175,0.0032,0,1.0000"
    ]


def test_an_unknown_table_is_not_found(client, admin_user, ledger):
    client.login(username="admin", password=PASSWORD)

    assert client.get("/spend/export/secrets.csv").status_code == 404
    assert (
        client.get("/spend/export/model.csv?range=custom&start=2026-11-30&end=2026-11-01").status_code == 400
    )


def test_login_is_required(client):
    response = client.get("/spend/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_long_ranges_read_daily_rollups_and_give_the_same_figures_as_the_raw_ledger(
    client, admin_user, ledger
):
    for day, cost in ((20, "0.5"), (28, "0.25"), (29, "0.125")):
        entry(at(23, 59, day=day), api_key=ledger["ops"], version=ledger["gpt"], provider="OpenAI",
              prompt_tokens=10, completion_tokens=5, reported_cost=D(cost), computed_cost=D(cost))  # fmt: skip
    raw = get_spend(client, admin_user, "range=30d").context["report"]

    rollup_catch_up(now=NOW)
    assert DailyRollup.objects.count() > 0
    rolled = get_spend(client, admin_user, "range=30d").context["report"]

    assert rolled.totals == raw.totals
    assert rolled.totals.cost == D("0.8893")
    assert rolled.chart == raw.chart
    day_totals = [sum(D(s["data"][i]) for s in rolled.chart["datasets"]) for i in (-11, -3, -2, -1)]
    assert day_totals == [D("0.5"), D("0.25"), D("0.125"), D("0.0143")]
    assert [(g.label, g.totals.cost) for g in rolled.by_key] == [
        ("ops (tl-ops…)", D("0.8771")),
        ("alpha (tl-alpha…)", D("0.0122")),
    ]


def test_dates_alone_mean_a_custom_range(client, admin_user, ledger):
    response = get_spend(client, admin_user, "start=2026-11-30&end=2026-11-30")

    report = response.context["report"]
    assert (report.start.isoformat(), report.totals.requests) == ("2026-11-30T00:00:00+00:00", 5)
    assert '<input type="radio" name="range" value="custom" checked>' in response.content.decode()


@pytest.mark.parametrize(
    "name, start, unit",
    [
        ("today", "2026-11-30T00:00:00+00:00", "hour"),
        ("7d", "2026-11-23T13:00:00+00:00", "day"),  # the last 7 × 24 hours, this one included
        ("30d", "2026-10-31T13:00:00+00:00", "day"),
        ("month", "2026-11-01T00:00:00+00:00", "day"),
    ],
)
def test_preset_ranges_end_now(client, admin_user, ledger, name, start, unit):
    response = get_spend(client, admin_user, f"range={name}")

    report = response.context["report"]
    assert (report.start.isoformat(), report.end, report.granularity) == (start, NOW, unit)
    assert f'<input type="radio" name="range" value="{name}" checked>' in response.content.decode()


def test_estimated_costs_are_counted_and_noted(client, admin_user, member, ledger):
    key = ledger["entries"][0].api_key
    for state in ("estimated", "estimated", "unreconciled", "reconciled"):
        entry(at(11, 0), api_key=key, status="cancelled", cost_state=state, computed_cost=D("0.001"))

    admin_page = get_spend(client, admin_user)

    html = " ".join(admin_page.content.decode().split())  # the note as shown: one space between its lines
    assert (admin_page.context["estimated"].pending, admin_page.context["estimated"].unreconciled) == (2, 1)
    assert (
        "2 awaiting reconciliation with OpenRouter's billed cost, 1 whose estimate stands (unreconciled)."
        in html
    )
    # Reconciled rows are exact; the ranges and who sees what are the page's.
    assert get_spend(client, admin_user, "range=custom&start=2026-11-01&end=2026-11-02").context[
        "estimated"
    ] == type(admin_page.context["estimated"])(0, 0)


def test_no_note_without_estimated_costs(client, admin_user, ledger):
    response = get_spend(client, admin_user)

    assert 'id="estimated-costs"' not in response.content.decode()
