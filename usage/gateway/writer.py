"""The ledger writer: rows the gateway queues, written in batches by a thread of their own, never lost.

The event loop only appends a LedgerRow to a queue. The thread takes up to BATCH rows at a time and writes
them in one transaction through the store. Rows the database refuses are tried one by one; those it still
refuses are appended to a spill file (DATA_DIR/ledger-spill/<pid>-<stamp>.jsonl), replayed when the writer
next starts. The thread also adds up the refusals of requests without a known key (KeylessRefusal).

Between `record` and the database there is one hand-over (the queue), so a write-ahead journal can take
its place without the event loop's side changing.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from usage.gateway.row import LedgerRow

log = logging.getLogger("tokenledger.gateway")

BATCH = 500
STOP = object()


class Flush(threading.Event):
    """Queued by flush(): set once everything queued before it, and the keyless counts, are written."""


DECIMAL_FIELDS = ("reported_cost", "computed_cost")
TEXT_FIELDS = ("requested_model", "served_model", "provider", "generation_id", "error_code", "error_message")
TEXT_FIELDS += ("user_tag", "endpoint", "status")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def _load(line: bytes) -> LedgerRow:
    data = orjson.loads(line)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    for name in DECIMAL_FIELDS:
        if data.get(name) is not None:
            data[name] = Decimal(data[name])
    return LedgerRow(**data)


def _clean(row: LedgerRow) -> None:
    """NUL characters (which PostgreSQL refuses in text and JSON) become U+FFFD."""
    for name in TEXT_FIELDS:
        value = getattr(row, name)
        if "\x00" in value:
            setattr(row, name, value.replace("\x00", "\ufffd"))
    for name in ("meta", "extra_usage"):
        value = getattr(row, name)
        if value:
            dumped = orjson.dumps(value)
            if b"\\u0000" in dumped:
                setattr(row, name, orjson.loads(dumped.replace(b"\\u0000", b"\\ufffd")))


class LedgerWriter:
    def __init__(self, store, spill_dir: Path, interval: float = 0.05) -> None:
        self.store = store
        self.spill_dir = spill_dir
        self.interval = interval
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.written = 0
        self.spilled = 0
        self._spill_seq = 0
        self.pending = 0  # rows queued and not yet written or spilled
        self.queued = 0  # rows queued since the start
        self.done = 0  # rows written or spilled since the start
        self.changed = threading.Condition()
        self.keyless: Counter[tuple[datetime, str]] = Counter()
        self.keyless_lock = threading.Lock()

    # ---- the event loop's side ----
    def record(self, row: LedgerRow) -> None:
        with self.changed:
            self.pending += 1
            self.queued += 1
        self.queue.put(row)

    def count_keyless(self, reason: str, at: datetime) -> None:
        """One more request refused without a known key, in `at`'s minute."""
        minute = at.replace(second=0, microsecond=0)
        with self.keyless_lock:
            self.keyless[(minute, reason)] += 1

    def start(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
            self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued, then end the thread (called from the lifespan shutdown)."""
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(STOP)
            self.thread.join(timeout)
        self.thread = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Write what is queued and the keyless counts now; True once done."""
        if self.thread is None or not self.thread.is_alive():
            return False
        done = Flush()
        self.queue.put(done)
        return done.wait(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every queued row is written or spilled."""
        with self.changed:
            return self.changed.wait_for(lambda: self.pending == 0, timeout)

    def wait_flushed(self, timeout: float = 10.0) -> bool:
        """Until the rows queued so far are written or spilled (later ones need not be)."""
        with self.changed:
            target = self.queued
            return self.changed.wait_for(lambda: self.done >= target, timeout)

    def wait_written(self, count: int, timeout: float = 10.0) -> bool:
        """Until `count` rows in all were written or spilled since the start (tests)."""
        with self.changed:
            return self.changed.wait_for(lambda: self.written + self.spilled >= count, timeout)

    # ---- the thread ----
    def _run(self) -> None:
        try:
            self.replay()
            stopping = False
            while not stopping:
                try:
                    item = self.queue.get(timeout=1.0)
                except queue.Empty:
                    self._write_keyless()
                    continue
                rows, flushes = [], []
                deadline = time.monotonic() + self.interval  # gather a batch: few transactions, few wake-ups
                while True:
                    if item is STOP:
                        stopping = True
                    elif isinstance(item, Flush):
                        flushes.append(item)
                    else:
                        rows.append(item)
                    wait = deadline - time.monotonic()
                    if len(rows) >= BATCH or stopping or flushes or wait <= 0:
                        break
                    try:
                        item = self.queue.get(timeout=wait)
                    except queue.Empty:
                        break
                self._write(rows)
                with self.changed:
                    self.pending -= len(rows)
                    self.done += len(rows)
                    self.changed.notify_all()
                self._write_keyless()
                for done in flushes:
                    done.set()
        finally:
            self.store.thread_done()

    def _write(self, rows: list[LedgerRow]) -> None:
        if not rows:
            return
        try:
            for row in rows:
                _clean(row)
                if row.reprice:
                    self.store.ledger_reprice(row)
                    row.reprice = False
            for attempt in range(3):  # a busy database gets a moment
                try:
                    self.written += self.store.ledger_write(rows)
                    return
                except self.store.Busy:
                    if attempt == 2:
                        raise
                    time.sleep(0.05 * (attempt + 1))
        except Exception:
            log.exception("ledger batch of %d rows not written; trying them one by one", len(rows))
        refused = []
        for row in rows:  # one bad row must not take its batch down with it
            try:
                self.written += self.store.ledger_write([row])
            except Exception:
                refused.append(row)
        if refused:
            log.error("ledger: %d rows spilled to %s", len(refused), self.spill_dir)
            self._spill(refused)

    def _write_keyless(self) -> None:
        with self.keyless_lock:
            if not self.keyless:
                return
            counts, self.keyless = self.keyless, Counter()
        try:
            self.store.keyless_add(counts)
        except Exception:
            log.exception("keyless refusal counts not written; kept for the next try")
            with self.keyless_lock:
                self.keyless.update(counts)

    def _spill(self, rows: list[LedgerRow]) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self._spill_seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.spill_dir / f"{os.getpid()}-{stamp}-{self._spill_seq}.jsonl"
        with path.open("ab") as spill:
            for row in rows:
                spill.write(orjson.dumps(row.as_dict(), default=_default) + b"\n")
            spill.flush()
            os.fsync(spill.fileno())
        self.spilled += len(rows)

    def replay(self) -> int:
        """Write the rows of earlier spill files; a file is deleted only once its rows are in."""
        if not self.spill_dir.is_dir():
            return 0
        replayed = 0
        for path in sorted(self.spill_dir.glob("*.jsonl")):
            try:
                rows = [_load(line) for line in path.read_bytes().splitlines() if line.strip()]
                for row in rows:
                    _clean(row)
                self.store.ledger_write(rows)
            except Exception:
                log.exception("ledger spill %s not replayed yet", path)
                continue
            path.unlink()
            replayed += len(rows)
        if replayed:
            log.info("replayed %d spilled ledger rows", replayed)
        return replayed
