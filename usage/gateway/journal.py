"""The write-ahead journal: every request sent upstream, and every row, on disk before the writer has it.

Each gateway process appends to its own journal in DATA_DIR/journal/ (`<host>-<pid>-<start>`): a `S` line
when a request is sent upstream (what a row needs if the process dies before the request ends: its id,
key, time, endpoint, model, a prompt-token estimate, the budget reservation), a `G` line when OpenRouter
names a stream's generation (so that a row the process dies with can be reconciled), and an `E` line with
the whole ledger row (LedgerRow.to_line()) when it ends, written before the row goes to the ledger writer.
Segments are allocated whole and mapped (mmap, shared): an append is a copy into the page cache, no system
call, no fsync. A killed process loses nothing the kernel has; power loss is out of scope.

The journal is a series of segments; a full one is closed and a new one opened with the `S` lines of the
requests still in flight copied over, and a closed segment is deleted once the ledger writer has written
(or spilled) every row recorded before it closed. A graceful stop deletes the whole journal.

A process holds an exclusive flock on its journal's `.lock` file for its life (the ledger writer's process
inherits it, so the lock lasts until the rows it read are written). At start-up the gateway replays the
journals whose lock it can take: their processes are gone. Each `E` row missing from the ledger is written
(by request id: a replay twice writes nothing twice), each `S` without an `E` becomes an `interrupted` row
with estimated cost (reconciled like a cancelled one when a `G` line named its generation); then the
journal is deleted. A lock still held by a process on this host that no
longer exists is its writer finishing: waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import orjson
from django.conf import settings

from usage.gateway.ledger_process import clean_row
from usage.gateway.limits import Ticket
from usage.gateway.row import ESTIMATED, UNRECONCILED, LedgerRow
from usage.gateway.store import Store
from usage.gateway.strategies import expected_tokens

log = logging.getLogger("tokenledger.gateway")

SEGMENT_BYTES = 4 << 20  # a segment is closed past this size
LOCK = ".lock"
SEGMENT = ".jnl"
INTERRUPTED_STATUS = 0  # http_status of an interrupted row: no whole answer was sent
DEAD_WAIT = 30.0  # seconds to wait for a dead process's ledger writer to finish


def journal_dir() -> Path:
    """DATA_DIR/journal (tests set GATEWAY_JOURNAL_DIR: a run never replays what an earlier one left)."""
    return Path(getattr(settings, "GATEWAY_JOURNAL_DIR", "") or Path(settings.DATA_DIR) / "journal")


@dataclass(slots=True)
class Journal:
    """This process's journal. `queued` and `done` count the ledger writer's rows (writer.LedgerWriter)."""

    folder: Path
    queued: Callable[[], int]
    done: Callable[[], int]
    segment_bytes: int = SEGMENT_BYTES
    name: str = ""
    lock_fd: int = -1
    map: mmap.mmap | None = None  # the open segment, mapped: an append is a copy to memory, no system call
    number: int = 0
    size: int = 0  # bytes used in the open segment
    failing: bool = False  # the last write failed (logged once)
    closed: list[tuple[Path, int]] = field(default_factory=list)  # closed segments, rows queued at closing
    flight: dict[str, bytes] = field(default_factory=dict)  # request id -> its `S` line, while in flight

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns() // 1000}"
        self.lock_fd = os.open(self.folder / (self.name + LOCK), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._open(0)

    def _segment(self, number: int) -> Path:
        return self.folder / f"{self.name}.{number:06d}{SEGMENT}"

    def _open(self, need: int) -> None:
        """A new segment, its blocks allocated at once (a full disk fails here, not in an append), mapped;
        the `S` lines of the requests in flight first."""
        self.number += 1
        carried = b"".join(self.flight.values())
        capacity = max(self.segment_bytes, 2 * len(carried) + need)  # room beyond what is carried over
        fd = os.open(self._segment(self.number), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, capacity)
            self.map = mmap.mmap(fd, capacity)
        finally:
            os.close(fd)  # the mapping keeps the file
        self.size = 0
        if carried:
            self._write(carried)

    # ---- the event loop's side ----
    def start(self, row: LedgerRow, request, plan, ticket) -> None:
        """The request is about to go upstream (a CompletionRequest, its plan.Plan and limits.Ticket)."""
        record = {
            "id": row.request_id,
            "key": row.api_key_id,
            "at": row.created_at,
            "endpoint": row.endpoint,
            "model": row.requested_model,
            "planned": plan.attempts[0].model,
            "stream": row.stream,
            "user": row.user_tag,
            "prompt": expected_tokens(request.body, request.endpoint)[0],
        }
        if ticket is not None and ticket.budget:
            record["ticket"] = {
                "period": ticket.period,
                "reservation": ticket.reservation,
                "reserved": ticket.reserved,
            }
        line = b"S" + orjson.dumps(record) + b"\n"
        self.flight[row.request_id] = line
        self._append(line)

    def generation(self, row: LedgerRow) -> None:
        """OpenRouter named the generation of a request in flight (a stream's first event or header): a `G`
        line, so that the row of a request the process dies in can be reconciled with what was billed."""
        start = self.flight.get(row.request_id)
        if start is not None:
            line = b"G" + orjson.dumps([row.request_id, row.generation_id]) + b"\n"
            self.flight[row.request_id] = start + line  # carried into the next segment with its start
            self._append(line)

    def end(self, row: LedgerRow, line: bytes) -> None:
        """The request ended: its row (`line`, LedgerRow.to_line()), before it goes to the writer."""
        self.flight.pop(row.request_id, None)
        self._append(b"E" + line + b"\n")

    def _append(self, data: bytes) -> None:
        """Append a record; a journal that cannot be written (a full disk, its folder gone) never fails the
        request: logged once, tried again at the next record."""
        try:
            if self.map is None or self.size + len(data) > len(self.map):
                self.rotate(len(data))
            self._write(data)
        except OSError as exc:
            if not self.failing:
                log.error(
                    "the gateway's journal %s cannot be written (%s): rows are not journaled", self.name, exc
                )
            self.failing = True
            return
        self.failing = False

    def _write(self, data: bytes) -> None:
        end = self.size + len(data)
        self.map[self.size : end] = data
        self.size = end

    def rotate(self, need: int = 0) -> None:
        """Close the segment (every `E` in it was recorded by the writer: `queued` now covers them), delete
        the closed ones the writer is done with, open the next (room for `need` bytes more at least)."""
        if self.map is not None:
            self.map.close()
            self.map = None
            self.closed.append((self._segment(self.number), self.queued()))
        self.prune()
        self._open(need)

    def prune(self) -> None:
        done = self.done()
        while self.closed and self.closed[0][1] <= done:
            path, _ = self.closed.pop(0)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # ---- the end ----
    def close(self, *, complete: bool) -> None:
        """At shut-down, once the writer stopped: delete the journal if every row was written (`complete`)
        and nothing is in flight; else keep it for the next start's replay."""
        if self.map is not None:
            self.map.close()
            self.map = None
        if complete and not self.flight:
            for path in self.folder.glob(f"{self.name}.*{SEGMENT}"):
                path.unlink()
            (self.folder / (self.name + LOCK)).unlink()
        os.close(self.lock_fd)

    @property
    def fds(self) -> tuple[int, ...]:
        """The descriptors the ledger writer's process inherits: the lock, held until its rows are in."""
        return (self.lock_fd,)


# ---- replay ----
def read_records(paths: list[Path]) -> tuple[dict[str, LedgerRow], dict[str, dict]]:
    """The rows (`E`) and starts (`S`) of a journal's segments, by request id, a start with the generation
    id of its `G` line if it has one (as "generation"); a line that cannot be read (a write cut short by the
    kill) is skipped."""
    ends: dict[str, LedgerRow] = {}
    starts: dict[str, dict] = {}
    generations: dict[str, str] = {}
    for path in paths:
        data = path.read_bytes()
        used = data.find(b"\0")  # a segment is allocated whole: what follows its records is zeros
        for line in (data if used < 0 else data[:used]).split(b"\n"):
            kind, body = line[:1], line[1:]
            try:
                if kind == b"E":
                    row = LedgerRow.from_line(body)
                    ends[row.request_id] = row
                elif kind == b"S":
                    start = orjson.loads(body)
                    starts[start["id"]] = start
                elif kind == b"G":
                    request_id, generation = orjson.loads(body)
                    generations[str(request_id)] = str(generation)[:200]
            except (ValueError, TypeError, KeyError, ArithmeticError):
                if line:
                    log.warning(
                        "journal %s: a line cut short or unreadable, skipped (%d bytes)", path, len(line)
                    )
    for request_id, generation in generations.items():
        if request_id in starts:
            starts[request_id]["generation"] = generation
    return ends, starts


def interrupted_row(start: dict) -> LedgerRow:
    """The row of a request that was in flight when its process died: the prompt estimated, cost estimated
    (priced by the caller), the budget reservation in `meta` for the reconciliation. With its generation id
    (a `G` line) the estimate waits for reconciliation; without, it stands."""
    generation = start.get("generation", "")
    row = LedgerRow(
        created_at=datetime.fromisoformat(start["at"]),
        endpoint=start["endpoint"],
        request_id=start["id"],
        api_key_id=start["key"],
        requested_model=start["model"],
        stream=start["stream"],
        user_tag=start.get("user", ""),
        http_status=INTERRUPTED_STATUS,
        status="interrupted",
        generation_id=generation,
        cost_state=ESTIMATED if generation else UNRECONCILED,
        error_code="gateway_interrupted",
        error_message="The gateway stopped with this request in flight (recorded from its journal)",
        prompt_tokens=start["prompt"],
    )
    row.meta["planned_model"] = start["planned"]
    if start.get("ticket"):
        row.meta["reservation"] = start["ticket"]
    return row


def _pid_gone(name: str) -> bool:
    """Is the process that wrote this journal, on this host, gone?"""
    parts = name.rsplit("-", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _take(lock: Path) -> int | None:
    """An open, locked descriptor of an orphan journal's lock file; None if its process lives."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    deadline = time.monotonic() + DEAD_WAIT
    gone = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if gone is None:
                gone = _pid_gone(lock.name[: -len(LOCK)])
            if gone and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            os.close(fd)
            return None
        if not lock.exists():  # replayed and deleted by another process meanwhile
            os.close(fd)
            return None
        return fd


def orphans(folder: Path) -> list[tuple[Path, int]]:
    """The lock files of journals whose processes are gone, each locked by us (release with os.close)."""
    if not folder.is_dir():
        return []
    found = []
    for lock in sorted(folder.glob(f"*{LOCK}")):
        fd = _take(lock)
        if fd is not None:
            found.append((lock, fd))
    return found


def segments_of(lock: Path) -> list[Path]:
    name = lock.name[: -len(LOCK)]
    return sorted(lock.parent.glob(f"{name}.*{SEGMENT}"))


def delete(lock: Path, fd: int) -> None:
    for path in segments_of(lock):
        path.unlink()
    lock.unlink()
    os.close(fd)


async def replay(folder: Path, store, *, max_cost, context_multiple: int, settle=None) -> int:
    """Write the rows of the orphan journals in `folder` that the ledger lacks, and delete those journals;
    returns the rows written. A database that refuses keeps the journal for the next start. Then
    `settle(row, ticket)` settles the budget of each row whose request had one (the limits settle only a
    reservation still held: one the dead process settled is not counted twice)."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.run_in_executor(None, orphans, folder)
    except OSError:
        log.exception("journals in %s not replayed", folder)
        return 0
    catalogue = None
    total = 0
    for lock, fd in found:
        ends, starts = await loop.run_in_executor(None, read_records, segments_of(lock))
        rows = list(ends.values())
        for request_id, start in starts.items():
            if request_id in ends:
                continue
            if catalogue is None:
                catalogue = (await store.snapshot()).catalogue
            row = interrupted_row(start)
            row.price(catalogue, max_cost=max_cost, context_multiple=context_multiple, model=start["planned"])
            rows.append(row)
        try:
            written = await store.run(_write_missing, rows, max_cost)
        except Exception:
            log.exception("journal %s not replayed (%d rows); kept for the next start", lock.name, len(rows))
            os.close(fd)
            continue
        total += written
        if settle is not None:
            for row in rows:
                ticket = starts.get(row.request_id, {}).get("ticket")
                if ticket and row.api_key_id is not None:
                    try:
                        await settle(row, ticket)
                    except Exception:
                        log.exception("journal: the budget of request %s not settled", row.request_id)
        log.warning(
            "journal %s replayed: %d rows, %d of them missing from the ledger (%d interrupted requests)",
            lock.name[: -len(LOCK)],
            len(rows),
            written,
            len(rows) - len(ends),
        )
        delete(lock, fd)
    return total


async def settle_budget(limits, row: LedgerRow, ticket: dict, reconcile_hold) -> None:
    """The budget of a row a dead process left in its journal: its cost, if its reservation is still held
    (if the dead process settled it, nothing: never counted twice)."""
    owner = SimpleNamespace(id=row.api_key_id, tpm_limit=0, rpm_limit=0)  # its minute is long gone
    held = Ticket(row.api_key_id, ticket["period"], ticket["reservation"], ticket["reserved"], None, True)
    hold = row.created_at + reconcile_hold if row.cost_state == "estimated" else None
    await limits.settle(owner, held, row.spent, 0, datetime.now(UTC), hold, only_if_held=True)


def _write_missing(rows: list[LedgerRow], max_cost) -> int:
    """In the store's thread: vet and reprice the rows as the writer does, then insert the missing ones."""
    for row in rows:
        clean_row(row, max_cost)
        if row.reprice:
            Store.ledger_reprice(row)
            row.reprice = False
    return Store.ledger_write_missing(rows)
