"""The gateway's ledger writer (its process): batched, flushed on stop, spilled to disk when the database
fails, replayed at the next start."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from catalog.models import PriceVersion
from tests.usage.gateway_data import make_catalogue
from usage.gateway.row import LedgerRow
from usage.gateway.store import database_url
from usage.gateway.writer import LedgerWriter
from usage.ledger_files import dead_letter_rows
from usage.models import ApiKey, KeylessRefusal, LedgerEntry
from usage.services.keys import api_key_create

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def row(key: ApiKey, n: int, **fields) -> LedgerRow:
    values = {
        "created_at": WHEN,
        "api_key_id": key.pk,
        "endpoint": "chat/completions",
        "requested_model": "openai/gpt-4o-mini",
        "http_status": 200,
        "status": "ok",
        "prompt_tokens": n,
        "completion_tokens": 8,
        "reported_cost": Decimal("0.0000066"),
        "computed_cost": Decimal("0.000000000000000001"),
        "extra_usage": {"cost_details": {"upstream_inference_cost": None}},
    }
    return LedgerRow(**(values | fields))


DOWN = "sqlite:////nonexistent/tokenledger/db.sqlite3"  # a database the writer's process cannot open


def write(database: str, spill, rows: list[LedgerRow]) -> LedgerWriter:
    writer = LedgerWriter(spill, database)
    writer.start()
    for one in rows:
        writer.record(one)
    writer.stop()
    return writer


def test_a_stop_writes_every_queued_row(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    write(database_url(), tmp_path / "spill", [row(key, n) for n in range(1200)])

    assert LedgerEntry.objects.count() == 1200
    assert sorted(LedgerEntry.objects.values_list("prompt_tokens", flat=True)) == list(range(1200))
    key.refresh_from_db()
    assert key.last_used_at == WHEN


def test_rows_the_database_refuses_are_spilled_then_replayed(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    writer = write(DOWN, tmp_path / "spill", [row(key, 1), row(key, 2)])

    [spill] = (tmp_path / "spill").glob("*.jsonl")
    assert len(spill.read_bytes().splitlines()) == 2
    assert writer.spilled == 2 and not LedgerEntry.objects.exists()

    write(database_url(), tmp_path / "spill", [])  # a new writer replays the spill file at its start

    assert not spill.exists()
    entries = list(LedgerEntry.objects.order_by("prompt_tokens"))
    assert [e.prompt_tokens for e in entries] == [1, 2]
    assert entries[0].created_at == WHEN
    assert (entries[0].reported_cost, entries[0].computed_cost) == (Decimal("0.0000066"), Decimal("1E-18"))
    assert entries[0].extra_usage == {"cost_details": {"upstream_inference_cost": None}}


def test_a_spill_file_stays_until_the_database_takes_it(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    write(DOWN, tmp_path / "spill", [row(key, 1)])

    write(DOWN, tmp_path / "spill", [])

    assert len(list((tmp_path / "spill").glob("*.jsonl"))) == 1


def test_a_row_that_began_before_a_reprice_is_costed_at_the_old_price(transactional_db, tmp_path):
    old = make_catalogue()["openai/gpt-4o-mini"]
    old.valid_to = WHEN
    old.save()
    PriceVersion.objects.create(
        catalog_model=old.catalog_model, valid_from=WHEN, prompt=Decimal("1"), completion=Decimal("1")
    )
    key, _ = api_key_create(name="k")
    late = row(
        key,
        12,
        created_at=WHEN - timedelta(seconds=1),
        catalog_model_id=old.catalog_model_id,
        computed_cost=None,
        reprice=True,
    )

    write(database_url(), tmp_path / "spill", [late])

    entry = LedgerEntry.objects.get()
    assert entry.price_version == old
    assert entry.computed_cost == Decimal("0.0000066")  # 12 × 0.00000015 + 8 × 0.0000006


def test_one_bad_row_does_not_take_its_batch_down(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    bad = row(key, 2, http_status=-1)  # refused by the database (a positive integer column)

    writer = write(database_url(), tmp_path / "spill", [row(key, 1), bad, row(key, 3)])

    assert sorted(LedgerEntry.objects.values_list("prompt_tokens", flat=True)) == [1, 3]
    assert writer.spilled == 1


def test_nul_characters_are_stored_as_replacement_characters(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    write(database_url(), tmp_path / "spill", [row(key, 1, user_tag="a\x00b", meta={"x": "c\x00d"})])

    entry = LedgerEntry.objects.get()
    assert (entry.user_tag, entry.meta) == ("a\ufffdb", {"x": "c\ufffdd"})


def test_keyless_refusals_are_added_up_per_minute_and_reason(transactional_db, tmp_path):
    writer = LedgerWriter(tmp_path / "spill", database_url())
    writer.start()
    for second in (1, 2, 59):
        writer.count_keyless("invalid_key", WHEN + timedelta(seconds=second))
    writer.count_keyless("missing_key", WHEN)
    writer.count_keyless("invalid_key", WHEN + timedelta(minutes=1))
    writer.record(row(ApiKey.objects.create(name="k", prefix="tl-k", secret_hash="0" * 64), 1))
    writer.stop()
    writer = LedgerWriter(tmp_path / "spill", database_url())
    writer.start()
    writer.count_keyless("invalid_key", WHEN)
    writer.stop()

    counts = {(r.minute, r.reason): r.count for r in KeylessRefusal.objects.all()}
    assert counts == {
        (WHEN, "invalid_key"): 4,
        (WHEN, "missing_key"): 1,
        (WHEN + timedelta(minutes=1), "invalid_key"): 1,
    }


def test_the_writer_process_writes_what_it_read_when_the_gateway_goes_away_and_keeps_what_it_cannot_read(
    transactional_db, tmp_path
):
    key, _ = api_key_create(name="k")
    env = {**os.environ, "DATABASE_URL": database_url(), "TOKENLEDGER_LEDGER_SPILL": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "usage.gateway.ledger_main"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    lines = [b"R" + row(key, n).to_line() + b"\n" for n in range(50)]
    lines.insert(20, b'R{"created_at": "not a row"}\n')
    process.stdin.write(b"".join(lines))
    process.stdin.close()  # no stop message: the gateway was killed

    assert process.wait(30) == 0
    assert process.stdout.read().split(b"\n")[-2] == b"W 50 1 51"  # written, spilled, done
    assert LedgerEntry.objects.count() == 50
    [unreadable] = tmp_path.glob("*.unreadable")  # kept for a person to look at, never replayed
    assert unreadable.read_bytes() == lines[20]


def test_a_writer_process_that_dies_is_started_again(transactional_db, tmp_path, caplog):
    key, _ = api_key_create(name="k")
    writer = LedgerWriter(tmp_path / "spill", database_url())
    writer.start()
    writer.record(row(key, 1))
    assert writer.flush()
    writer.process.kill()
    writer.process.wait()

    writer.record(row(key, 2))
    writer.record(row(key, 3))
    writer.stop()

    assert sorted(LedgerEntry.objects.values_list("prompt_tokens", flat=True)) == [1, 2, 3]
    assert (writer.written, writer.pending) == (3, 0)
    assert "the ledger writer's process ended (exit -9) with 0 rows not written" in caplog.text


def test_a_ledger_row_has_a_field_per_ledger_column_and_no_other_but_reprice():
    from dataclasses import fields

    columns = {f.attname for f in LedgerEntry._meta.concrete_fields if not f.primary_key}

    assert {f.name for f in fields(LedgerRow)} == columns | {"reprice"}
    with pytest.raises(AttributeError):
        LedgerRow(created_at=WHEN, endpoint="chat/completions").servd_model = "x"  # a misspelt field fails


def test_a_row_goes_through_a_line_unchanged():
    one = LedgerRow(
        created_at=WHEN,
        endpoint="completions",
        api_key_id=3,
        reported_cost=Decimal("0.000000000000000001"),
        computed_cost=None,
        meta={"attempts": [{"upstream": "local", "status": 429}]},
        extra_usage={"cost_details": {"upstream_inference_cost": None}},
        ttft_ms=12,
        reprice=True,
    )

    assert LedgerRow.from_line(one.to_line()) == one


def test_a_line_of_an_older_version_gets_the_defaults_and_an_unknown_field_is_refused():
    line = orjson.loads(LedgerRow(created_at=WHEN, endpoint="chat/completions", http_status=200).to_line())
    del line["finish_reason"], line["cache_savings"]  # fields added after the line was spilled

    older = LedgerRow.from_line(orjson.dumps(line))

    assert (older.finish_reason, older.cache_savings, older.http_status) == ("", Decimal(0), 200)
    assert older.created_at == WHEN
    with pytest.raises(TypeError):  # as many fields as a row has, one of them unknown
        LedgerRow.from_line(orjson.dumps(line | {"finish_reason": "", "colour": "red"}))
    with pytest.raises(TypeError):
        LedgerRow.from_line(orjson.dumps(line | {"colour": "red"}))


def test_a_spill_is_replayed_row_by_row_and_what_no_database_takes_goes_to_a_dead_letter_file(
    transactional_db, tmp_path
):
    key, _ = api_key_create(name="k")
    spill = tmp_path / "spill"
    spill.mkdir()
    nan = orjson.loads(row(key, 2).to_line()) | {"reported_cost": "NaN"}
    huge = orjson.loads(row(key, 3).to_line()) | {"reported_cost": "1E+308"}
    lines = [
        row(key, 1).to_line(),
        orjson.dumps(nan),
        orjson.dumps(huge),
        row(key, 4, http_status=-1).to_line(),  # the database refuses it whatever is done
        b"not a row",
        row(key, 5).to_line(),
    ]
    (spill / "old.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    write(database_url(), spill, [])

    entries = {e.prompt_tokens: e for e in LedgerEntry.objects.all()}
    assert sorted(entries) == [1, 2, 3, 5]
    assert (entries[2].reported_cost, entries[2].extra_usage["invalid"]) == (None, {"cost": "NaN"})
    assert (entries[3].reported_cost, entries[3].extra_usage["invalid"]) == (None, {"cost": "1E+308"})
    assert entries[5].reported_cost == Decimal("0.0000066")
    assert not (spill / "old.jsonl").exists()
    [dead] = spill.glob("*.dead")
    assert dead.read_bytes().splitlines() == [b"not a row", lines[3]]
    assert dead_letter_rows(spill) == 2


def test_a_spill_file_is_kept_whole_while_the_database_is_away(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    spill = tmp_path / "spill"
    spill.mkdir()
    (spill / "old.jsonl").write_bytes(row(key, 1).to_line() + b"\nnot a row\n")

    write(DOWN, spill, [])

    assert (spill / "old.jsonl").exists() and not list(spill.glob("*.dead"))
