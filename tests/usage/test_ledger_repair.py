"""Rows stored with impossible usage values before the gateway vetted them: `manage.py repair_ledger` (and
migration 0014, which runs the same repair) sets the values aside, after which no page, export or rollup
fails on them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from tests.dashboard.every_page import build_pages
from usage.models import HourlyRollup, LedgerEntry
from usage.services.ledger_repair import bad_rows_repair

PAGES = ("home", "spend", "activity", "activity_detail", "keys", "compare", "model_detail", "catalog:models")
EXPORTS = ("/spend/export/model.csv", "/spend/export/key.csv", "/activity/export.csv")


def corrupt(entry_id: int, **values) -> None:
    assignments = ", ".join(f"{column} = {value}" for column, value in values.items())
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE usage_ledgerentry SET {assignments} WHERE id = %s", [entry_id])  # noqa: S608


@pytest.fixture
def pages(db, admin_user, client):
    client.force_login(admin_user)
    paths = build_pages(admin_user)
    call_command("rollup_ledger")
    return paths


def test_after_the_repair_every_page_export_and_rollup_works(pages, client, capsys):
    ids = list(LedgerEntry.objects.order_by("created_at").values_list("id", flat=True))
    huge = "'NaN'" if connection.vendor == "postgresql" else "1e308"  # what each database let through
    corrupt(ids[0], reported_cost=huge)
    corrupt(ids[1], reported_cost="-0.5")
    corrupt(ids[2], computed_cost="5000")
    if connection.vendor == "sqlite":
        corrupt(ids[3], prompt_tokens=str(2**40))

    call_command("repair_ledger")

    out = capsys.readouterr().out
    repaired = 4 if connection.vendor == "sqlite" else 3
    assert out.startswith(f"repair ok: rows={repaired} since=")
    entries = {e.id: e for e in LedgerEntry.objects.all()}
    assert (entries[ids[0]].reported_cost, entries[ids[0]].extra_usage["invalid"]) == (
        None,
        {"cost": "NaN" if connection.vendor == "postgresql" else "1.0e+308"},
    )
    assert entries[ids[1]].extra_usage["invalid"] == {
        "cost": "-0.5" if connection.vendor == "sqlite" else "-0.500000000000000000"
    }
    assert (entries[ids[2]].computed_cost, entries[ids[2]].reported_cost) == (None, Decimal("0.00035"))
    if connection.vendor == "sqlite":
        assert (entries[ids[3]].prompt_tokens, entries[ids[3]].extra_usage["invalid"]) == (
            0,
            {"prompt_tokens": 2**40},
        )
    for name in PAGES:
        assert client.get(pages[name]).status_code == 200, name
    for path in EXPORTS:
        assert client.get(path).status_code == 200, path
    call_command("rollup_ledger", "--since", "2020-01-01")
    total = sum(HourlyRollup.objects.values_list("cost", flat=True))
    # A cost set aside leaves the other one (reported, else computed) spent: each row still spends $0.00035.
    assert total == Decimal("0.00035") * 12


def test_a_ledger_without_bad_values_is_left_alone(pages):
    assert bad_rows_repair(connection, max_cost=Decimal(1000)) == []


def test_status_shows_staff_the_rows_kept_in_dead_letter_files(db, settings, tmp_path, admin_user, client):
    settings.DATA_DIR = tmp_path
    (tmp_path / "ledger-spill").mkdir()
    (tmp_path / "ledger-spill" / "1-x.dead").write_bytes(b'{"a": 1}\nnot a row\n')
    client.force_login(admin_user)

    page = client.get("/status/").content.decode()

    assert "2 ledger rows could not be written to the database" in page
