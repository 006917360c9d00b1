"""/keys/: each visible key's budget, spend this period, burn-rate forecast; create (secret once) and revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.usage.spend_data import NOW, at, build_ledger, entry, log_in, make_key
from usage.models import ApiKey
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def ledger(admin_user, member, time_machine):
    time_machine.move_to(NOW, tick=False)
    data = build_ledger(member=member, admin=admin_user)
    burn = make_key("burn", member, budget_usd=D("0.10"), budget_period=ApiKey.Period.NONE, rpm_limit=60)
    for day in range(24, 31):  # 0.007 a day over the last 7 days
        entry(
            at(1, 0, day=day), api_key=burn, version=data["gpt"], provider="OpenAI", reported_cost=D("0.007")
        )
    entry(at(1, 0, day=10), api_key=burn, version=data["gpt"], provider="OpenAI", reported_cost=D("0.03"))
    data["burn"] = burn
    return data


def rows_of(response) -> list[tuple]:
    return [
        (row.key.name, row.spent, row.remaining, row.daily_rate, row.forecast)
        for row in response.context["rows"]
    ]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rollups"])
def test_a_member_sees_their_keys_with_spend_and_forecast(client, member, ledger, rolled_up):
    if rolled_up:
        rollup_catch_up(now=NOW)

    response = log_in(client, member).get("/keys/")

    assert response.status_code == 200
    assert rows_of(response) == [
        ("alpha", D("0.0122"), D("0.9878"), D("0.0122") / 7, "lasts until the period resets"),
        ("burn", D("0.079"), D("0.021"), D("0.007"), "runs out around 2026-12-03 12:00 UTC"),
    ]
    html = response.content.decode()
    assert "ops" not in html
    assert "60 rpm" in html
    assert "resets 2026-12-01" in html


def test_staff_see_every_key(client, admin_user, ledger):
    response = log_in(client, admin_user).get("/keys/")

    assert [(name, spent, forecast) for name, spent, _, _, forecast in rows_of(response)] == [
        ("alpha", D("0.0122"), "lasts until the period resets"),
        ("burn", D("0.079"), "runs out around 2026-12-03 12:00 UTC"),
        ("ops", D("0.0021"), "no budget"),
    ]


def test_an_outsider_sees_no_keys(client, outsider, ledger):
    response = log_in(client, outsider).get("/keys/")

    assert rows_of(response) == []
    assert "You have no keys yet." in response.content.decode()


def test_a_spent_budget_says_so(client, member, ledger):
    ledger["burn"].budget_usd = D("0.05")
    ledger["burn"].save()

    response = log_in(client, member).get("/keys/")

    assert rows_of(response)[1][2:] == (D("0"), D("0.007"), "budget spent")


def test_creating_a_key_redirects_and_shows_its_secret_once(client, member, ledger):
    client = log_in(client, member)

    response = client.post(
        "/keys/",
        {
            "name": "laptop",
            "budget_usd": "12.50",
            "budget_period": "weekly",
            "rpm_limit": "30",
            "tpm_limit": "40000",
            "allowed_models": " openai/gpt-4o, anthropic/* ,",
            "expires_at": "2027-01-31T18:30",
            "cache_responses": "on",
            "capture_bodies": "on",
        },
    )

    # POST/redirect/GET: the secret is in no URL, and a reload of the page creates nothing.
    assert (response.status_code, response["Location"]) == (302, "/keys/")
    key = ApiKey.objects.get(name="laptop")
    assert (key.owner, key.budget_usd, key.budget_period, key.rpm_limit, key.tpm_limit) == (
        member,
        D("12.5"),
        "weekly",
        30,
        40000,
    )
    assert key.allowed_models == ["openai/gpt-4o", "anthropic/*"]
    assert key.expires_at == datetime(2027, 1, 31, 18, 30, tzinfo=UTC)
    assert (key.cache_responses, key.capture_bodies) == (True, True)
    shown = client.get("/keys/")
    secret = shown.context["secret"]
    assert secret and secret.startswith(key.prefix)
    html = shown.content.decode()
    assert f'<div class="secret" id="new-secret">{secret}</div>' in html
    assert '<button type="button" class="copy-button" data-copy="new-secret"' in html
    assert shown["Cache-Control"].startswith("max-age=0")
    stored = ApiKey.objects.filter(pk=key.pk).values()[0]
    assert all(secret not in str(value) for value in stored.values())
    again = client.get("/keys/")
    assert secret not in again.content.decode()
    assert "laptop" in again.content.decode()
    assert (
        '<span class="badge capture" title="Its bodies are captured">capture</span>' in again.content.decode()
    )
    assert ApiKey.objects.filter(name="laptop").count() == 1


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "  "}, "This field is required."),
        ({"name": "x", "budget_usd": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"name": "x", "budget_usd": "lots"}, "Enter a number."),
        ({"name": "x", "budget_period": "hourly"}, "Select a valid choice."),
        ({"name": "x" * 101}, "Ensure this value has at most 100 characters"),
        ({"name": "x", "allowed_models": "gpt-4o"}, "&quot;gpt-4o&quot; is neither a model id"),
        ({"name": "x", "allowed_models": "openai/gpt 4o"}, "is neither a model id (author/slug)"),
        ({"name": "x", "expires_at": "2026-11-30T12:00"}, "Choose a time in the future."),
        ({"name": "x", "expires_at": "soon"}, "Enter a valid date/time."),
    ],
)
def test_bad_key_input_gets_form_errors(client, member, ledger, data, message):
    data = {"budget_period": "monthly", **data}

    response = log_in(client, member).post("/keys/", data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiKey.objects.filter(name__in=["x", "  ", "x" * 100]).exists()


def test_an_owner_revokes_their_key(client, member, ledger):
    response = log_in(client, member).post(f"/keys/{ledger['alpha'].id}/revoke/")

    assert response.status_code == 302
    ledger["alpha"].refresh_from_db()
    assert ledger["alpha"].revoked_at is not None
    assert "revoked" in log_in(client, member).get("/keys/").content.decode()


def test_nobody_revokes_someone_elses_key(client, member, ledger):
    response = log_in(client, member).post(f"/keys/{ledger['ops'].id}/revoke/")

    assert response.status_code == 404
    ledger["ops"].refresh_from_db()
    assert ledger["ops"].revoked_at is None
    assert client.get(f"/keys/{ledger['ops'].id}/revoke/").status_code == 405


def test_staff_revoke_any_key(client, admin_user, ledger):
    log_in(client, admin_user).post(f"/keys/{ledger['alpha'].id}/revoke/")

    ledger["alpha"].refresh_from_db()
    assert ledger["alpha"].revoked_at is not None


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rollups"])
def test_weekly_and_daily_periods_count_from_their_start(client, member, ledger, rolled_up):
    # 2026-11-30 is a Monday: the week and the day both began at midnight.
    key = make_key("weekly", member, budget_usd=D("1"), budget_period=ApiKey.Period.WEEKLY)
    entry(at(23, 0, day=29), api_key=key, reported_cost=D("0.5"))  # last week
    entry(at(0, 30), api_key=key, reported_cost=D("0.25"))
    daily = make_key("zdaily", member, budget_usd=D("1"), budget_period=ApiKey.Period.DAILY)
    entry(NOW - timedelta(days=1), api_key=daily, reported_cost=D("0.5"))
    entry(NOW - timedelta(minutes=5), api_key=daily, reported_cost=D("0.125"))
    if rolled_up:  # one query per source for keys of every period (monthly, none, weekly, daily)
        rollup_catch_up(now=NOW)

    rows = {row[0]: row for row in rows_of(log_in(client, member).get("/keys/"))}

    assert rows["weekly"][1:3] == (D("0.25"), D("0.75"))
    assert rows["zdaily"][1:3] == (D("0.125"), D("0.875"))
    assert rows["burn"][1:4] == (D("0.079"), D("0.021"), D("0.007"))


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rollups"])
def test_spend_this_period_is_what_the_gateways_budget_counts(client, admin_user, ledger, rolled_up):
    from usage.selectors.keys import key_spend_in_period

    if rolled_up:
        rollup_catch_up(now=NOW)

    rows = log_in(client, admin_user).get("/keys/").context["rows"]

    assert [row.spent for row in rows] == [key_spend_in_period(api_key=row.key, now=NOW) for row in rows]
