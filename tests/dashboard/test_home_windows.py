"""/'s six windows (today, 7 and 30 days, each against the same span a step back) equal direct sums of the
ledger's rows, to the last digit, whether the windows' edges fall early in a day or late (a day a window
starts or ends inside is read in part from the hourly rollups, in part from its daily rollup), with the
rollups caught up, a day and a half behind or not run, for staff and for a member.

As /spend/ counts them, a window starting or ending inside an hour takes that hour whole by its start: a
window [start, end) holds the rows whose hour begins in it, up to now.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.conftest import PASSWORD
from tests.usage.spend_data import make_key
from usage.costs import spent_cost
from usage.models import LedgerEntry
from usage.selectors.overview import Span, spend_overview
from usage.selectors.rollups import floor_hour
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STEPS = {"today": DAY, "7d": 7 * DAY, "30d": 30 * DAY}  # dashboard.views.HOME_RANGES
EARLY = datetime(2026, 11, 30, 2, 40, tzinfo=UTC)  # edges at 02:40: the hours before are the smaller side
LATE = datetime(2026, 11, 30, 21, 40, tzinfo=UTC)  # edges at 21:40: the hours after are the smaller side
EARLIER = "meta/used-before-the-30-days"
FAILED = {LedgerEntry.Status.ERROR, LedgerEntry.Status.REJECTED}
MODELS = ["openai/gpt-4o", "anthropic/claude-sonnet-4", "google/gemini-2.5-flash"]
STATUSES = [*[LedgerEntry.Status.OK] * 6, *sorted(FAILED), LedgerEntry.Status.CANCELLED]


def build_traffic(*, now: datetime, admin, member) -> None:
    """Rows on each day from 63 days before `now` up to it, around midnight, at noon, and around 02:40 and
    21:40 (the edges' times of day), spread over three keys (two the member's), models and statuses."""
    rng = random.Random(18)
    keys = [make_key("alpha", member), make_key("beta", member), make_key("ops", admin)]
    first = (now - 63 * DAY).replace(hour=0, minute=0)
    hours = (0, 1, 2, 3, 12, 20, 21, 22, 23)
    rows = []
    for day in range(64):
        for hour in hours:
            for minute in (5, 39, 40, 41, 55):
                at = first + day * DAY + timedelta(hours=hour, minutes=minute)
                if at >= now:
                    continue
                cost = D(rng.randint(0, 99_999)) / 1_000_000
                status, model = rng.choice(STATUSES), rng.choice(MODELS)
                reported = None if rng.random() < 0.25 else cost
                rows.append(
                    LedgerEntry(
                        api_key=rng.choice(keys),
                        created_at=at,
                        requested_model=model,
                        served_model=model,
                        status=status,
                        http_status=200 if status == LedgerEntry.Status.OK else 502,
                        reported_cost=reported,
                        computed_cost=cost if reported is None else cost + D("0.000001"),
                    )
                )
    # A model used on the 30 days' first day only, before they start: none of the 30 days' top models.
    first_of_30 = floor_hour(now) - 30 * DAY + HOUR
    rows.append(LedgerEntry(api_key=keys[0], created_at=first_of_30.replace(hour=1, minute=5), http_status=200,
                            requested_model=EARLIER, served_model=EARLIER, reported_cost=D("0.5")))  # fmt: skip
    LedgerEntry.objects.bulk_create(rows)


def direct_sums(rows: list[LedgerEntry], *, start: datetime, end: datetime, now: datetime) -> tuple:
    """(spend, requests, failed) of the rows whose hour begins in [start, end), before now."""
    chosen = [row for row in rows if start <= floor_hour(row.created_at) < end and row.created_at < now]
    spend = sum((spent_cost(row.reported_cost, row.computed_cost) or D(0) for row in chosen), D(0))
    return spend, len(chosen), sum(1 for row in chosen if row.status in FAILED)


def shown(figures) -> tuple:
    return figures.cost, figures.requests, figures.failed


@pytest.mark.parametrize("now", [EARLY, LATE], ids=["edges early in a day", "edges late in a day"])
@pytest.mark.parametrize("rollups", ["caught up", "36 hours behind", "not run"])
def test_each_window_equals_the_ledgers_own_sums(client, admin_user, member, time_machine, now, rollups):
    time_machine.move_to(now, tick=False)
    build_traffic(now=now, admin=admin_user, member=member)
    if rollups != "not run":
        rollup_catch_up(now=now if rollups == "caught up" else now - 36 * HOUR)

    for user in (admin_user, member):
        client.login(username=user.username, password=PASSWORD)
        context = client.get("/").context
        visible = (
            LedgerEntry.objects.all() if user.is_staff else LedgerEntry.objects.filter(api_key__owner=user)
        )
        rows = list(visible)
        for period in (p["figures"] for p in context["periods"]):
            step = STEPS[period.name]
            this = direct_sums(rows, start=period.start, end=period.end, now=now)
            before = direct_sums(rows, start=period.start - step, end=period.end - step, now=now)
            assert (shown(period.totals), shown(period.previous)) == (this, before), (
                user.username,
                period.name,
            )
            assert this[1] and before[1]  # every window holds rows
        # The 30 days' models and keys (all of them: fewer than five each).
        window = {"start": period.start, "end": period.end, "now": now}
        models = {row.served_model for row in rows} - {EARLIER}
        assert {m["group"].key: shown(m["group"].totals) for m in context["top_models"]} == {
            model: direct_sums([row for row in rows if row.served_model == model], **window)
            for model in models
        }
        keys = {row.api_key_id for row in rows}
        assert {k["group"].key: shown(k["group"].totals) for k in context["top_keys"]} == {
            key: direct_sums([row for row in rows if row.api_key_id == key], **window) for key in keys
        }


def test_a_day_cut_in_three_reads_two_parts_and_takes_the_third_from_its_daily_rollup(
    admin_user, member, time_machine
):
    time_machine.move_to(LATE, tick=False)
    build_traffic(now=LATE, admin=admin_user, member=member)
    rollup_catch_up(now=LATE)
    # Nov 20 is cut at 03:00 (the span starts at 02:40) and at 21:00 (the period before ends at 20:50).
    start, end = datetime(2026, 11, 20, 2, 40, tzinfo=UTC), datetime(2026, 11, 22, 20, 50, tzinfo=UTC)
    spans = [Span("custom", "Custom", start, end, 2 * DAY)]

    [period] = spend_overview(user=admin_user, spans=spans, now=LATE).periods

    rows = list(LedgerEntry.objects.all())
    assert shown(period.totals) == direct_sums(rows, start=start, end=end, now=LATE)
    assert shown(period.previous) == direct_sums(rows, start=start - 2 * DAY, end=end - 2 * DAY, now=LATE)
