"""The gateway's ledger writer: batched, flushed on stop, spilled to disk when the database fails, replayed."""

from datetime import UTC, datetime
from decimal import Decimal

from usage.gateway.ledger import LedgerWriter
from usage.models import ApiKey, LedgerEntry
from usage.services import api_key_create

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def row(key: ApiKey, n: int) -> dict:
    return {
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


def test_a_stop_writes_every_queued_row(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    writer = LedgerWriter(tmp_path / "spill")
    writer.start()
    for n in range(1200):
        writer.record(row(key, n))
    writer.stop()

    assert LedgerEntry.objects.count() == 1200
    assert sorted(LedgerEntry.objects.values_list("prompt_tokens", flat=True)) == list(range(1200))
    key.refresh_from_db()
    assert key.last_used_at == WHEN


def test_rows_the_database_refuses_are_spilled_then_replayed(transactional_db, tmp_path, monkeypatch):
    import usage.services

    key, _ = api_key_create(name="k")
    writer = LedgerWriter(tmp_path / "spill")

    def refuse(*, rows):
        raise RuntimeError("database is down")

    with monkeypatch.context() as patch:
        patch.setattr(usage.services, "ledger_record_many", refuse)
        writer._write([row(key, 1), row(key, 2)])
    [spill] = (tmp_path / "spill").glob("*.jsonl")
    assert len(spill.read_bytes().splitlines()) == 2
    assert writer.spilled == 2 and not LedgerEntry.objects.exists()

    assert LedgerWriter(tmp_path / "spill").replay() == 2

    assert not spill.exists()
    entries = list(LedgerEntry.objects.order_by("prompt_tokens"))
    assert [e.prompt_tokens for e in entries] == [1, 2]
    assert entries[0].created_at == WHEN
    assert (entries[0].reported_cost, entries[0].computed_cost) == (Decimal("0.0000066"), Decimal("1E-18"))
    assert entries[0].extra_usage == {"cost_details": {"upstream_inference_cost": None}}


def test_a_spill_file_stays_until_the_database_takes_it(transactional_db, tmp_path, monkeypatch):
    import usage.services

    key, _ = api_key_create(name="k")
    writer = LedgerWriter(tmp_path / "spill")
    writer._spill([row(key, 1)])
    monkeypatch.setattr(usage.services, "ledger_record_many", lambda *, rows: 1 / 0)

    assert writer.replay() == 0
    assert len(list((tmp_path / "spill").glob("*.jsonl"))) == 1


def test_a_row_that_began_before_a_reprice_is_costed_at_the_old_price(transactional_db, tmp_path):
    from datetime import timedelta

    from catalog.models import PriceVersion
    from tests.usage.gateway_data import make_catalogue

    old = make_catalogue()["openai/gpt-4o-mini"]
    old.valid_to = WHEN
    old.save()
    PriceVersion.objects.create(
        catalog_model=old.catalog_model, valid_from=WHEN, prompt=Decimal("1"), completion=Decimal("1")
    )
    key, _ = api_key_create(name="k")
    late = row(key, 12) | {
        "created_at": WHEN - timedelta(seconds=1),
        "catalog_model_id": old.catalog_model_id,
        "computed_cost": None,
        "_reprice": True,
    }
    writer = LedgerWriter(tmp_path / "spill")

    writer._write([late])

    entry = LedgerEntry.objects.get()
    assert entry.price_version == old
    assert entry.computed_cost == Decimal("0.0000066")  # 12 × 0.00000015 + 8 × 0.0000006


def test_one_bad_row_does_not_take_its_batch_down(transactional_db, tmp_path):
    key, _ = api_key_create(name="k")
    bad = row(key, 2) | {"http_status": -1}  # refused by the database (a positive integer column)
    writer = LedgerWriter(tmp_path / "spill")

    writer._write([row(key, 1), bad, row(key, 3)])

    assert sorted(LedgerEntry.objects.values_list("prompt_tokens", flat=True)) == [1, 3]
    assert writer.spilled == 1
