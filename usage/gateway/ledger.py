"""The ledger writer: rows queued by the gateway, written in batches by a thread, never lost.

The event loop only appends a dict to a queue. A thread takes up to BATCH rows at a time and writes
them with one bulk insert (usage.services.ledger_record_many). If the database refuses, the batch is
appended to DATA_DIR/ledger-spill/<pid>-<n>.jsonl and replayed at the next start (or next flush).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from django.db import OperationalError, close_old_connections, connection

log = logging.getLogger("tokenledger.gateway")

BATCH = 500
STOP = object()
DECIMAL_FIELDS = ("reported_cost", "computed_cost")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def _load(line: bytes) -> dict[str, Any]:
    row = orjson.loads(line)
    row["created_at"] = datetime.fromisoformat(row["created_at"])
    for name in DECIMAL_FIELDS:
        if row.get(name) is not None:
            row[name] = Decimal(row[name])
    return row


def _clean(row: dict[str, Any]) -> None:
    """NUL characters (which PostgreSQL refuses in text and JSON) become U+FFFD."""
    for name, value in row.items():
        if isinstance(value, str):
            if "\x00" in value:
                row[name] = value.replace("\x00", "\ufffd")
        elif isinstance(value, dict) and value:
            dumped = orjson.dumps(value)
            if b"\\u0000" in dumped:
                row[name] = orjson.loads(dumped.replace(b"\\u0000", b"\\ufffd"))


def _reprice(row: dict[str, Any]) -> None:
    """The cost at the price version valid when the request began (older than the one in memory)."""
    from catalog.selectors import price_at
    from usage.gateway.usage import computed_cost

    version = price_at(catalog_model_id=row["catalog_model_id"], at=row["created_at"])
    if version is not None:
        row["price_version_id"] = version.pk
        row["computed_cost"] = computed_cost(version.prices(), row)


class LedgerWriter:
    def __init__(self, spill_dir: Path, interval: float = 0.05) -> None:
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

    # ---- the event loop's side ----
    def record(self, row: dict[str, Any]) -> None:
        with self.changed:
            self.pending += 1
            self.queued += 1
        self.queue.put(row)

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
                    continue
                rows = []
                deadline = time.monotonic() + self.interval  # gather a batch: few transactions, few wake-ups
                while True:
                    if item is STOP:
                        stopping = True
                    else:
                        rows.append(item)
                    wait = deadline - time.monotonic()
                    if len(rows) >= BATCH or stopping or wait <= 0:
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
        finally:
            connection.close()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        from usage.services import ledger_record_many

        try:
            close_old_connections()
            for row in rows:
                _clean(row)
                if row.pop("_reprice", False):
                    _reprice(row)
            for attempt in range(3):  # a busy database gets a moment
                try:
                    self.written += ledger_record_many(rows=rows)
                    return
                except OperationalError:
                    if attempt == 2:
                        raise
                    time.sleep(0.05 * (attempt + 1))
        except Exception:
            log.exception("ledger batch of %d rows not written; trying them one by one", len(rows))
            connection.close()
        refused = []
        for row in rows:  # one bad row must not take its batch down with it
            try:
                self.written += ledger_record_many(rows=[row])
            except Exception:
                connection.close()
                refused.append(row)
        if refused:
            log.error("ledger: %d rows spilled to %s", len(refused), self.spill_dir)
            self._spill(refused)

    def _spill(self, rows: list[dict[str, Any]]) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self._spill_seq += 1
        path = (
            self.spill_dir
            / f"{os.getpid()}-{datetime.now().strftime('%Y%m%dT%H%M%S%f')}-{self._spill_seq}.jsonl"
        )
        with path.open("ab") as spill:
            for row in rows:
                spill.write(orjson.dumps(row, default=_default) + b"\n")
            spill.flush()
            os.fsync(spill.fileno())
        self.spilled += len(rows)

    def replay(self) -> int:
        """Write the rows of earlier spill files; a file is deleted only once its rows are in."""
        from usage.services import ledger_record_many

        if not self.spill_dir.is_dir():
            return 0
        replayed = 0
        for path in sorted(self.spill_dir.glob("*.jsonl")):
            try:
                rows = [_load(line) for line in path.read_bytes().splitlines() if line.strip()]
                for row in rows:
                    _clean(row)
                ledger_record_many(rows=rows)
            except Exception:
                log.exception("ledger spill %s not replayed yet", path)
                connection.close()
                continue
            path.unlink()
            replayed += len(rows)
        if replayed:
            log.info("replayed %d spilled ledger rows", replayed)
        return replayed
