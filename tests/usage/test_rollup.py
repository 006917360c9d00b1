"""Hourly rollups: exact aggregates, idempotent, catch-up after downtime; retention keeps the rollups."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.usage.spend_data import NOW, at, build_ledger, entry, make_model
from usage.models import DailyRollup, HourlyRollup, LedgerEntry, RollupState
from usage.services.rollups import ledger_prune, rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal


def snapshot() -> list[tuple]:
    return list(
        HourlyRollup.objects.order_by("hour", "model", "status").values_list(
            "hour",
            "api_key__name",
            "model",
            "provider",
            "status",
            "requests",
            "prompt_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "completion_tokens",
            "reasoning_tokens",
            "reported_cost",
            "computed_cost",
            "cost",
            "cache_savings",
            "latency_ms_sum",
        )
    )


def test_it_rolls_up_every_final_hour_with_exact_sums(admin_user, member):
    build_ledger(member=member, admin=admin_user)

    result = rollup_catch_up(now=NOW)

    assert (result.hours, result.rows, result.complete_until) == (3, 3, at(12, 0))
    assert snapshot() == [
        (at(9, 0), "alpha", "openai/gpt-4o", "OpenAI", "ok", 1, 1000, 400, 0, 200, 0,
         D("0.004"), D("0.004"), D("0.004"), D("0.0005"), 800),
        (at(10, 0), "alpha", "anthropic/claude-sonnet-4", "Anthropic", "ok", 1, 2000, 1000, 500, 300, 100,
         D("0.0082"), D("0.008175"), D("0.0082"), D("0.0027"), 1200),
        (at(11, 0), "ops", "openai/gpt-4o", "Azure", "error", 1, 0, 0, 0, 0, 0,
         D("0"), D("0"), D("0"), D("0"), 100),
    ]  # fmt: skip


def test_the_current_hour_is_left_to_the_raw_ledger_until_it_is_final(admin_user, member):
    build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)

    # 12:00-13:00 is final 12 minutes after it ends (stream timeout + 2 minutes).
    assert rollup_catch_up(now=at(13, 11)).hours == 0
    result = rollup_catch_up(now=at(13, 12))

    assert (result.hours, result.complete_until) == (1, at(13, 0))
    assert HourlyRollup.objects.filter(hour=at(12, 0)).count() == 2
    rejected = HourlyRollup.objects.get(hour=at(12, 0), status="rejected")
    assert (rejected.model, rejected.provider, rejected.cost) == ("openai/gpt-4o", "", D("0"))


def test_running_it_again_changes_nothing(admin_user, member):
    build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)
    first = snapshot()

    again = rollup_catch_up(now=NOW)

    assert (again.hours, again.rows) == (0, 0)
    assert snapshot() == first


def test_a_rebuild_since_an_hour_replaces_its_rollups_without_duplicates(admin_user, member):
    data = build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)
    first = snapshot()
    # A row replayed late (e.g. from the gateway's spill file) into an hour already rolled up.
    entry(at(9, 40), api_key=data["alpha"], version=data["gpt"], provider="OpenAI",
          prompt_tokens=10, completion_tokens=1, computed_cost=D("0.000035"), reported_cost=D("0.000035"))  # fmt: skip

    result = rollup_catch_up(now=NOW, since=at(9, 0))

    assert (result.hours, result.rows) == (3, 3)
    nine = HourlyRollup.objects.get(hour=at(9, 0))
    assert (nine.requests, nine.prompt_tokens, nine.cost) == (2, 1010, D("0.004035"))
    assert snapshot()[1:] == first[1:]


def test_it_catches_up_after_downtime(admin_user, member):
    data = build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)
    # Three days without the task, with traffic each day at 08:30.
    for day in (1, 2, 3):
        entry(NOW + timedelta(days=day) - timedelta(hours=4), api_key=data["ops"], version=data["gpt"],
              provider="OpenAI", prompt_tokens=100, computed_cost=D("0.00025"))  # fmt: skip

    result = rollup_catch_up(now=NOW + timedelta(days=3))

    assert (result.hours, result.complete_until) == (72, at(12, 0) + timedelta(days=3))
    assert HourlyRollup.objects.filter(hour__gte=at(12, 0)).count() == 2 + 3
    assert sum(HourlyRollup.objects.values_list("requests", flat=True)) == LedgerEntry.objects.count()


def test_an_empty_ledger_marks_everything_complete(db):
    result = rollup_catch_up(now=NOW)

    assert (result.hours, result.rows, result.complete_until) == (0, 0, at(12, 0))
    assert RollupState.objects.get().complete_until == at(12, 0)


def test_retention_deletes_old_raw_rows_in_batches_and_keeps_rollups(admin_user, member, settings):
    build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)
    rolled = snapshot()

    # Keep 1 day: at NOW + 1 day - 2 h, rows before 10:30 on the 30th go (9:10 and 10:20).
    result = ledger_prune(now=NOW + timedelta(days=1) - timedelta(hours=2), days=1, batch_size=1)

    assert result.deleted == 2
    assert list(LedgerEntry.objects.order_by("created_at").values_list("created_at", flat=True)) == [
        at(11, 5), at(12, 10), at(12, 15)
    ]  # fmt: skip
    assert snapshot() == rolled


def test_retention_deletes_keyless_refusal_counts_older_than_the_retention(db):
    from usage.models import KeylessRefusal

    for minute in (at(12, 29), at(12, 30)):
        KeylessRefusal.objects.create(minute=minute, reason="invalid_key", count=5)

    ledger_prune(now=NOW + timedelta(days=1), days=1)  # NOW is 12:30

    assert list(KeylessRefusal.objects.values_list("minute", flat=True)) == [at(12, 30)]


def test_retention_never_deletes_rows_that_are_not_rolled_up(admin_user, member):
    build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)  # complete until 12:00

    result = ledger_prune(now=NOW + timedelta(days=30), days=1)

    assert (result.deleted, result.cutoff) == (3, at(12, 0))
    assert LedgerEntry.objects.count() == 2


def test_retention_zero_keeps_everything(admin_user, member, settings):
    settings.LEDGER_RETENTION_DAYS = 0
    build_ledger(member=member, admin=admin_user)
    rollup_catch_up(now=NOW)

    assert ledger_prune(now=NOW + timedelta(days=400)).deleted == 0
    assert LedgerEntry.objects.count() == 5


def test_the_commands_print_one_summary_line(admin_user, member, settings, time_machine):
    time_machine.move_to(NOW + timedelta(days=3, minutes=-20), tick=False)
    settings.LEDGER_RETENTION_DAYS = 3
    build_ledger(member=member, admin=admin_user)
    out = StringIO()

    call_command("rollup_ledger", stdout=out)
    call_command("prune_ledger", stdout=out)

    assert out.getvalue().splitlines() == [
        "rollup ok: hours=74 rows=5 complete_until=2026-12-03T11:00:00+00:00",
        "prune ok: deleted=3 older_than=2026-11-30T12:10:00+00:00",
    ]


def test_the_rollup_command_rejects_a_bad_since(db):
    message = "--since must be a date (2027-01-31) or an ISO time (2026-11-30T09:00Z); got 'yesterday-ish'"
    with pytest.raises(CommandError, match=f"^{re.escape(message)}$"):
        call_command("rollup_ledger", "--since", "yesterday-ish")


def test_daily_rollups_sum_the_hours_of_each_day(admin_user, member):
    data = build_ledger(member=member, admin=admin_user)
    entry(at(23, 30, day=29), api_key=data["alpha"], version=data["gpt"], provider="OpenAI",
          prompt_tokens=100, completion_tokens=10, reported_cost=D("0.00035"), computed_cost=D("0.00035"))  # fmt: skip

    rollup_catch_up(now=NOW)

    days = DailyRollup.objects.order_by("day", "model", "status").values_list(
        "day",
        "api_key__name",
        "model",
        "provider",
        "status",
        "requests",
        "prompt_tokens",
        "cost",
        "cache_savings",
    )
    assert list(days) == [
        (at(0, 0, day=29), "alpha", "openai/gpt-4o", "OpenAI", "ok", 1, 100, D("0.00035"), D("0")),
        (
            at(0, 0),
            "alpha",
            "anthropic/claude-sonnet-4",
            "Anthropic",
            "ok",
            1,
            2000,
            D("0.0082"),
            D("0.0027"),
        ),
        (at(0, 0), "ops", "openai/gpt-4o", "Azure", "error", 1, 0, D("0"), D("0")),
        (at(0, 0), "alpha", "openai/gpt-4o", "OpenAI", "ok", 1, 1000, D("0.004"), D("0.0005")),
    ]

    # Rolling up the 12:00 hour later adds it to the same day, without duplicating the others.
    rollup_catch_up(now=at(13, 30))
    assert DailyRollup.objects.filter(day=at(0, 0)).count() == 5
    assert sum(DailyRollup.objects.values_list("requests", flat=True)) == 6


def test_no_cache_savings_without_a_cache_read_price(db):
    # Cached input of a model without a cache-read price is billed at the input price: nothing saved.
    _, plain = make_model(
        "meta-llama/llama-3.3-70b-instruct", prompt=D("0.0000001"), completion=D("0.0000003")
    )
    entry(at(9, 0), version=plain, provider="DeepInfra", prompt_tokens=1000, cached_tokens=800,
          computed_cost=D("0.0001"))  # fmt: skip

    rollup_catch_up(now=NOW)

    assert HourlyRollup.objects.get().cache_savings == D(0)


def test_prune_says_why_it_deleted_nothing(db, settings):
    settings.LEDGER_RETENTION_DAYS = 0
    out = StringIO()

    call_command("prune_ledger", stdout=out)
    call_command("prune_ledger", "--days", "5", stdout=out)

    assert out.getvalue().splitlines() == [
        "prune ok: deleted=0 (LEDGER_RETENTION_DAYS=0 keeps every row)",
        "prune ok: deleted=0 (nothing is rolled up yet)",
    ]
    with pytest.raises(CommandError, match="--days must be 0 or more; got -1"):
        call_command("prune_ledger", "--days", "-1")


def test_response_cache_hits_roll_up_what_they_saved(db):
    for minute, saved in ((5, "0.0000066"), (20, "0.00125"), (40, None)):
        entry(at(9, minute), status="cached", http_status=200, prompt_tokens=12, completion_tokens=8,
              computed_cost=D(0), meta={"cache": "hit", "saved_cost": saved})  # fmt: skip
    entry(at(9, 50), computed_cost=D("0.0000066"), meta={"alias": "team/fast"})

    rollup_catch_up(now=NOW)

    rows = HourlyRollup.objects.order_by("status").values_list(
        "status", "requests", "cost", "response_cache_saved"
    )
    assert list(rows) == [("cached", 3, D(0), D("0.0012566")), ("ok", 1, D("0.0000066"), D(0))]
    day = DailyRollup.objects.get(status="cached")
    assert (day.requests, day.response_cache_saved) == (3, D("0.0012566"))


def test_the_rollup_tables_share_one_list_of_aggregate_columns_and_the_ledger_computes_each():
    from usage.models import ROLLUP_AGGREGATES, DailyRollup, HourlyRollup
    from usage.selectors.rollups import LEDGER_AGGREGATES

    def aggregates(model) -> set[str]:
        fields = {field.name for field in model._meta.fields if not field.primary_key}
        return fields - {"api_key", "endpoint", "model", "provider", "status", "hour", "day"}

    assert set(ROLLUP_AGGREGATES) == aggregates(HourlyRollup) == aggregates(DailyRollup)
    assert set(LEDGER_AGGREGATES) == set(ROLLUP_AGGREGATES)
    assert len(ROLLUP_AGGREGATES) == 13
