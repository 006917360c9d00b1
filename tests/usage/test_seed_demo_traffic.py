"""`seed_demo_traffic --requests N [--days D]`: realistic demo rows priced from the catalogue, then rolled up."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min, Sum

from tests.usage.spend_data import NOW, make_model
from usage.models import ApiKey, HourlyRollup, LedgerEntry

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def catalogue(time_machine):
    time_machine.move_to(NOW, tick=False)
    make_model(
        "openai/gpt-4o", prompt=D("0.0000025"), completion=D("0.00001"), input_cache_read=D("0.00000125")
    )
    make_model(
        "anthropic/claude-sonnet-4",
        prompt=D("0.000003"),
        completion=D("0.000015"),
        input_cache_read=D("0.0000003"),
        input_cache_write=D("0.00000375"),
    )
    make_model(
        "openai/o4-mini", prompt=D("0.0000011"), completion=D("0.0000044"), input_cache_read=D("0.000000275")
    )


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo_traffic", *args, stdout=out)
    return out.getvalue()


def test_it_fills_the_ledger_with_a_realistic_mix_and_rolls_it_up(admin_user, catalogue):
    output = seed("--requests", "600", "--days", "2")

    assert output == "seeded: requests=600 keys=4 models=3 days=2 rollup_hours=48\n"
    span = LedgerEntry.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert span["first"] >= NOW - timedelta(days=2) and span["last"] < NOW
    statuses = dict(LedgerEntry.objects.values_list("status").annotate(n=Count("id")))
    assert set(statuses) == {"ok", "error", "cancelled", "rejected"}
    assert statuses["ok"] > 500
    assert LedgerEntry.objects.filter(cached_tokens__gt=0).exists()
    assert LedgerEntry.objects.filter(cache_write_tokens__gt=0).exists()
    assert LedgerEntry.objects.filter(reasoning_tokens__gt=0).exists()
    assert LedgerEntry.objects.values("api_key").distinct().count() == 4
    assert set(ApiKey.objects.values_list("owner__username", flat=True)) == {"admin"}
    rolled = HourlyRollup.objects.aggregate(n=Sum("requests"))["n"]
    assert rolled == LedgerEntry.objects.filter(created_at__lt=NOW.replace(minute=0)).count()


def test_each_row_is_priced_with_the_gateways_formula(admin_user, catalogue):
    seed("--requests", "200", "--days", "1")

    for row in LedgerEntry.objects.filter(status="ok", cached_tokens__gt=0).select_related("price_version")[
        :20
    ]:
        v = row.price_version
        expected = (
            (row.prompt_tokens - row.cached_tokens) * v.prompt
            + row.cached_tokens * v.input_cache_read
            + row.cache_write_tokens * v.input_cache_write
            + row.completion_tokens * v.completion
        )
        assert row.computed_cost == expected
        assert row.reasoning_tokens <= row.completion_tokens
    assert not LedgerEntry.objects.filter(status="rejected", computed_cost__isnull=False).exists()


def test_running_it_again_adds_traffic_with_the_same_keys(admin_user, catalogue):
    seed("--requests", "50", "--days", "1")
    keys = set(ApiKey.objects.values_list("id", flat=True))

    seed("--requests", "70", "--days", "1", "--seed", "8")

    assert LedgerEntry.objects.count() == 120
    assert set(ApiKey.objects.values_list("id", flat=True)) == keys


@pytest.mark.parametrize(
    "args, message",
    [
        (("--requests", "0"), "--requests must be between 1 and 10000000; got 0"),
        (("--requests", "10", "--days", "0"), "--days must be between 1 and 3660; got 0"),
    ],
)
def test_bad_arguments_fail_with_one_clear_line(catalogue, args, message):
    with pytest.raises(CommandError, match=message):
        seed(*args)
    assert LedgerEntry.objects.count() == 0


def test_an_empty_catalogue_says_what_to_do(db):
    with pytest.raises(
        CommandError, match=r"the catalogue has no priced models: run `manage.py sync_catalog"
    ):
        seed("--requests", "10")


def test_demo_rows_are_costed_at_the_effective_prices(admin_user, time_machine):
    time_machine.move_to(NOW, tick=False)
    # every prompt is above 1 token: the override doubles each price the rows use
    _, version = make_model(
        "tiers/doubled",
        prompt=D("0.000001"),
        completion=D("0.000002"),
        overrides=[{"min_prompt_tokens": 1, "prompt": "0.000002", "completion": "0.000004"}],
    )
    seed("--requests", "200", "--days", "1")

    rows = LedgerEntry.objects.filter(status="ok")
    assert rows.count() > 150
    for row in rows:
        base = row.prompt_tokens * D("0.000001") + row.completion_tokens * D("0.000002")
        assert row.computed_cost == 2 * base, row.id
