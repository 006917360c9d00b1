"""The gateway's write-ahead journal (usage/gateway/journal.py): segments rotated and deleted once the writer
is done with them, and the replay of a dead process's journal at start-up."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tests.usage.gateway_data import make_catalogue
from usage.gateway import journal
from usage.gateway.limits import Ticket
from usage.gateway.limits_db import DatabaseLimits
from usage.gateway.row import LedgerRow
from usage.gateway.store import Store
from usage.models import BudgetReservation, KeyCounter, LedgerEntry
from usage.services.keys import api_key_create

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "y" * 401}]}  # 101 tokens
REQUEST = SimpleNamespace(body=BODY, endpoint="chat/completions")
PLAN = SimpleNamespace(attempts=[SimpleNamespace(model="openai/gpt-4o-mini")])


def row(request_id: str, key_id: int | None = None, **fields) -> LedgerRow:
    values = {
        "created_at": WHEN,
        "endpoint": "chat/completions",
        "request_id": request_id,
        "api_key_id": key_id,
        "requested_model": "openai/gpt-4o-mini",
        "user_tag": request_id,
    }
    return LedgerRow(**(values | fields))


def done_row(request_id: str, key_id: int | None = None) -> LedgerRow:
    return row(
        request_id,
        key_id,
        status="ok",
        http_status=200,
        prompt_tokens=12,
        completion_tokens=8,
        reported_cost=Decimal("0.0000066"),
        computed_cost=Decimal("0.0000066"),
    )


class Counts:
    """The writer's counters as the journal reads them."""

    def __init__(self) -> None:
        self.queued = 0
        self.done = 0

    def open(self, folder, segment_bytes: int = journal.SEGMENT_BYTES) -> journal.Journal:
        return journal.Journal(
            folder, queued=lambda: self.queued, done=lambda: self.done, segment_bytes=segment_bytes
        )


def contents(folder) -> dict[str, list[str]]:
    """Segment number -> its records, starts first: `S <id>` / `E <id>`."""
    found = {}
    for path in sorted(folder.glob("*.jnl")):
        ends, starts = journal.read_records([path])
        found[path.name.rsplit(".", 2)[1]] = [f"S {i}" for i in starts] + [f"E {i}" for i in ends]
    return found


def test_segments_rotate_carry_the_requests_in_flight_and_go_once_written(tmp_path):
    counts = Counts()
    own = counts.open(tmp_path, segment_bytes=1)  # each record opens a segment of its own size
    own.start(row("a"), REQUEST, PLAN, None)  # segment 1 closed with 0 rows queued: deleted at once
    own.end(row("b"), done_row("b").to_line())  # segment 2 too
    counts.queued = 1
    assert contents(tmp_path) == {"000003": ["S a", "E b"]}
    own.end(row("c"), done_row("c").to_line())
    counts.queued = 2
    assert contents(tmp_path) == {"000003": ["S a", "E b"], "000004": ["S a", "E c"]}
    counts.done = 1  # the writer wrote b, not yet c
    own.end(row("a"), done_row("a").to_line())
    counts.queued = 3
    assert contents(tmp_path) == {"000004": ["S a", "E c"], "000005": ["E a"]}

    counts.done = 3
    own.close(complete=True)
    assert list(tmp_path.iterdir()) == []


def test_a_generation_named_is_carried_with_its_start(tmp_path):
    counts = Counts()
    own = counts.open(tmp_path, segment_bytes=1)  # each record opens a segment of its own size
    own.start(row("a"), REQUEST, PLAN, None)
    own.generation(row("a", generation_id="gen-a"))
    own.generation(row("z", generation_id="gen-z"))  # not in flight: nothing recorded
    own.end(row("b"), done_row("b").to_line())  # a new segment: a's start and generation carried over
    (last,) = tmp_path.glob("*.jnl")  # the closed ones held no row queued: deleted
    ends, starts = journal.read_records([last])
    assert (list(starts), list(ends)) == (["a"], ["b"])
    assert starts["a"]["generation"] == "gen-a"
    assert b"gen-z" not in last.read_bytes()


def test_a_stop_with_rows_unwritten_keeps_the_journal(tmp_path):
    counts = Counts()
    own = counts.open(tmp_path)
    own.end(row("a"), done_row("a").to_line())
    own.close(complete=False)
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".jnl", ".lock"]


def test_a_live_process_keeps_its_journal(tmp_path):
    live = Counts().open(tmp_path)
    live.start(row("a"), REQUEST, PLAN, None)
    assert journal.orphans(tmp_path) == []
    live.close(complete=False)
    found = journal.orphans(tmp_path)
    assert [lock.name for lock, _ in found] == [f"{live.name}.lock"]
    journal.delete(*found[0])
    assert list(tmp_path.iterdir()) == []


def replay(folder, *, limits: bool = False) -> int:
    async def run() -> int:
        store = Store()
        settle = None
        if limits:
            counters = DatabaseLimits(store, load_spend=None)

            def settle(row, ticket):
                return journal.settle_budget(counters, row, ticket, timedelta(minutes=25))

        try:
            return await journal.replay(
                folder, store, max_cost=Decimal(100), context_multiple=2, settle=settle
            )
        finally:
            await store.close()

    return asyncio.run(run())


@pytest.fixture
def dead_journal(transactional_db, tmp_path):
    """A dead process's journal: b and c ended (c already in the ledger), a, d and e were in flight (e's
    generation named)."""
    make_catalogue()
    key, _ = api_key_create(name="k")
    counts = Counts()
    dead = counts.open(tmp_path / "journal")
    ticket = Ticket(key_id=key.pk, period="monthly:2026-11-01", reservation="r1", reserved=5000, budget=True)
    dead.start(row("a", key.pk), REQUEST, PLAN, ticket)
    dead.start(row("b", key.pk), REQUEST, PLAN, None)
    dead.start(row("c", key.pk), REQUEST, PLAN, None)
    dead.start(row("d", key.pk, stream=True), REQUEST, PLAN, None)
    dead.start(row("e", key.pk, stream=True), REQUEST, PLAN, None)
    dead.generation(row("e", key.pk, generation_id="gen-e"))  # OpenRouter named e's generation
    for request_id in "bc":
        dead.end(row(request_id), done_row(request_id, key.pk).to_line())
    Store.ledger_write([done_row("c", key.pk)])
    dead.close(complete=False)
    return SimpleNamespace(folder=tmp_path / "journal", key=key, name=dead.name)


def test_a_dead_process_s_journal_is_replayed_once(dead_journal):
    kept = dead_journal.folder.parent / "copy"
    shutil.copytree(dead_journal.folder, kept)

    assert replay(dead_journal.folder) == 4  # a, d and e interrupted, b ended; c was in the ledger
    assert list(dead_journal.folder.iterdir()) == []
    rows = {entry.request_id: entry for entry in LedgerEntry.objects.all()}
    assert sorted(rows) == ["a", "b", "c", "d", "e"]
    assert (rows["b"].status, rows["b"].prompt_tokens, rows["b"].reported_cost) == (
        "ok",
        12,
        Decimal("0.0000066"),
    )
    for request_id in "ad":
        interrupted = rows[request_id]
        assert (interrupted.status, interrupted.http_status, interrupted.cost_state) == (
            "interrupted",
            0,
            "unreconciled",  # no generation id is known: the estimate stands
        )
        assert (interrupted.prompt_tokens, interrupted.completion_tokens) == (101, 0)
        assert interrupted.computed_cost == Decimal("0.00001515")  # 101 × $0.00000015
        assert interrupted.reported_cost is None
        assert interrupted.catalog_model.model_id == "openai/gpt-4o-mini"
        assert interrupted.created_at == WHEN
        assert interrupted.user_tag == request_id
    assert rows["d"].stream is True
    assert rows["a"].meta == {
        "planned_model": "openai/gpt-4o-mini",
        "reservation": {"period": "monthly:2026-11-01", "reservation": "r1", "reserved": 5000},
    }
    assert rows["d"].meta == {"planned_model": "openai/gpt-4o-mini"}
    # e's generation is known: its estimate waits for the reconciliation (GET /generation), like a
    # cancelled stream's.
    e = rows["e"]
    assert (e.status, e.http_status, e.cost_state, e.generation_id) == (
        "interrupted",
        0,
        "estimated",
        "gen-e",
    )
    assert (e.prompt_tokens, e.computed_cost) == (101, Decimal("0.00001515"))

    shutil.copytree(kept, dead_journal.folder, dirs_exist_ok=True)  # the same journal again
    assert replay(dead_journal.folder) == 0
    assert LedgerEntry.objects.count() == 5
    assert list(dead_journal.folder.iterdir()) == []


def test_a_line_cut_short_by_the_kill_is_skipped(dead_journal):
    segment = next(dead_journal.folder.glob("*.jnl"))
    used = segment.read_bytes().index(b"\0")  # the segment is allocated whole: zeros after its records
    with segment.open("r+b") as out:
        out.seek(used)
        out.write(b'E{"created_at": "2026-11-30T12:00:00+00:00", "endpoint": "chat/comp')
    assert replay(dead_journal.folder) == 4
    assert sorted(LedgerEntry.objects.values_list("request_id", flat=True)) == ["a", "b", "c", "d", "e"]


def test_a_database_that_refuses_keeps_the_journal(dead_journal, monkeypatch):
    def refuse(rows):
        raise Store.Busy("database is locked")

    monkeypatch.setattr(Store, "ledger_write_missing", staticmethod(refuse))
    assert replay(dead_journal.folder) == 0
    assert sorted(path.suffix for path in dead_journal.folder.iterdir()) == [".jnl", ".lock"]
    assert LedgerEntry.objects.count() == 1


def test_a_journal_that_cannot_be_written_never_fails_the_request(tmp_path, caplog):
    folder = tmp_path / "journal"
    counts = Counts()
    own = counts.open(folder, segment_bytes=1)
    own.start(row("a"), REQUEST, PLAN, None)
    shutil.rmtree(folder)  # its folder gone: no new segment can be opened
    own.end(row("b"), done_row("b").to_line())
    own.end(row("c"), done_row("c").to_line())
    assert [r.message for r in caplog.records if "cannot be written" in r.message] == [
        f"the gateway's journal {own.name} cannot be written ([Errno 2] No such file or directory: "
        f"'{folder}/{own.name}.000003.jnl'): rows are not journaled"
    ]
    folder.mkdir()
    own.end(row("d"), done_row("d").to_line())
    assert contents(folder) == {"000005": ["S a", "E d"]}


def test_a_replay_into_an_hour_already_rolled_up_rolls_it_up_again(dead_journal):
    from usage.models import HourlyRollup
    from usage.services.rollups import rollup_catch_up

    rollup_catch_up(now=datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # 12:00 is rolled up: c only
    assert list(HourlyRollup.objects.values_list("status", "requests")) == [("ok", 1)]
    assert replay(dead_journal.folder) == 4
    assert sorted(HourlyRollup.objects.values_list("hour", "status", "requests", "prompt_tokens")) == [
        (WHEN, "interrupted", 3, 303),
        (WHEN, "ok", 2, 24),
    ]


def test_a_replay_settles_the_budget_of_a_reservation_still_held_and_never_twice(dead_journal):
    key, window = dead_journal.key, "monthly:2026-11-01"
    KeyCounter.objects.create(api_key=key, window=window, spent=1000)
    BudgetReservation.objects.create(
        id="r1", api_key=key, window=window, amount=5000, deadline=WHEN + timedelta(minutes=15)
    )
    kept = dead_journal.folder.parent / "copy"
    shutil.copytree(dead_journal.folder, kept)

    assert replay(dead_journal.folder, limits=True) == 4

    # a (interrupted, its reservation r1 still held): its estimate, 101 × $0.00000015, joins the spend.
    assert KeyCounter.objects.get(api_key=key, window=window).spent == 1000 + 15_150
    assert not BudgetReservation.objects.exists()
    shutil.copytree(kept, dead_journal.folder, dirs_exist_ok=True)
    LedgerEntry.objects.filter(request_id="a").delete()  # as if its row had never been written
    assert replay(dead_journal.folder, limits=True) == 1
    assert KeyCounter.objects.get(api_key=key, window=window).spent == 1000 + 15_150  # not twice
