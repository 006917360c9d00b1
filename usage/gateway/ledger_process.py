"""The ledger writer's process: it reads ledger rows from the gateway on stdin and writes them in batches.

A process of its own, so that turning rows into SQL never holds the interpreter lock the gateway's event loop
needs (in a thread it stalled requests for milliseconds at a time). Started by writer.LedgerWriter:

    python -m usage.gateway.ledger_main   (DATABASE_URL: the gateway's database; TOKENLEDGER_LEDGER_SPILL)

stdin, one message a line: `R<row as JSON>` a row, `K<["minute", "reason"]>` a refusal without a known key,
`C<[request id, endpoint, stream, cut]> <request> <reply> <tail>` (base64) the bodies of a capturing key's
request, stored once its row is in (usage/exchanges.py; a capture whose row is not in the ledger is
dropped with a log line), `F<id>` a flush (answered once everything before it is written), `S` stop.
EOF (the gateway is gone, even killed) is a stop too: what was read is written first. stdout, one line per
batch: `W <written> <spilled> <done>` (totals since the start), and `F<id>` for a flush (a gateway that is
gone gets no answers; its rows are written all the same). Rows the database refuses are tried one by one,
then spilled to DATA_DIR/ledger-spill/*.jsonl and replayed at the next start, row by row when a file's rows
cannot go in together: a row the database still refuses goes to a dead-letter file (*.dead, beside the
spills) with one log line, and never blocks the others. Every row is vetted first (usage.usage_values).
"""

from __future__ import annotations

import logging
import os
import select
import sys
import time
from base64 import b64decode
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
from django.conf import settings

from usage.exchanges import Exchange, exchange_of
from usage.gateway.row import LedgerRow
from usage.gateway.store import Store
from usage.gateway.writer import SPILL_VARIABLE
from usage.ledger_files import DEAD_LETTER, SPILL

BATCH = 500
# Seconds a batch gathers rows once its first one came (about one delivery of the gateway's sender). A longer
# batch is a longer burst of this process's CPU, and the request in flight during it waits: at 50 ms the
# gateway's p99 at one connection on SQLite was 3.65 ms, at 10 ms 2.37 ms, for no more CPU a request
# (docs/gateway.md, Session 10).
INTERVAL = 0.01
TEXT_FIELDS = ("requested_model", "served_model", "provider", "generation_id", "error_code", "error_message")
TEXT_FIELDS += ("user_tag", "endpoint", "status")

log = logging.getLogger("tokenledger.gateway")


class Batches:
    """Batches of rows written through the store in one transaction; refused rows one by one, then spilled."""

    def __init__(self, store, spill_dir: Path, *, max_cost: Decimal, capture_limit: int = 0) -> None:
        self.store = store
        self.capture_limit = capture_limit  # settings.CAPTURE_MAX_BYTES
        self.spill_dir = spill_dir
        self.max_cost = max_cost  # settings.GATEWAY_MAX_REQUEST_COST
        self.written = 0
        self.spilled = 0
        self.done = 0
        self.keyless: Counter[tuple[datetime, str]] = Counter()
        self._spill_seq = 0

    def write(self, rows: list[LedgerRow]) -> None:
        self.done += len(rows)
        if not rows:
            return
        try:
            for row in rows:
                clean_row(row, self.max_cost)
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
            self.spill(refused)

    def write_captures(self, lines: list[bytes]) -> None:
        """Store the captured bodies of rows written (each line a `C` message without its `C`)."""
        if not lines:
            return
        exchanges: list[tuple[str, Exchange]] = []
        for line in lines:
            try:
                about, request, reply, tail = line.split(b" ")
                request_id, endpoint, stream, cut = orjson.loads(about)
                exchanges.append(
                    (
                        request_id,
                        exchange_of(
                            endpoint=endpoint,
                            stream=stream,
                            request=b64decode(request),
                            reply=b64decode(reply),
                            tail=b64decode(tail),
                            cut=cut,
                            limit=self.capture_limit,
                        ),
                    )
                )
            except Exception:
                log.exception("a captured exchange the writer cannot read; dropped")
        try:
            stored = self.store.captures_write(exchanges)
        except Exception:
            log.exception("%d captured exchanges not stored", len(exchanges))
            return
        if stored < len(exchanges):
            log.warning("%d captured exchanges without their ledger row; dropped", len(exchanges) - stored)

    def write_keyless(self) -> None:
        if not self.keyless:
            return
        try:
            self.store.keyless_add(self.keyless)
        except Exception:
            log.exception("keyless refusal counts not written; kept for the next try")
            return
        self.keyless = Counter()

    def spill(self, rows: list[LedgerRow]) -> None:
        self._spill_file(SPILL, [row.to_line() for row in rows])
        self.spilled += len(rows)

    def spill_line(self, line: bytes) -> None:
        """A message that is not a row the writer can read: kept for a person to look at, never replayed."""
        self._spill_file("unreadable", [line])
        if line.startswith(b"R"):
            self.spilled += 1
            self.done += 1

    def _spill_file(self, suffix: str, lines: list[bytes]) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self._spill_seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.spill_dir / f"{os.getpid()}-{stamp}-{self._spill_seq}.{suffix}"
        with path.open("ab") as spill:
            spill.write(b"".join(line + b"\n" for line in lines))
            spill.flush()
            os.fsync(spill.fileno())

    def replay(self) -> int:
        """Write the rows of earlier spill files; a file is deleted once each of its rows is in, or in the
        dead-letter file. A database that is busy or away keeps the file for the next start."""
        if not self.spill_dir.is_dir():
            return 0
        replayed = 0
        for path in sorted(self.spill_dir.glob(f"*.{SPILL}")):
            rows: list[tuple[bytes, LedgerRow]] = []
            dead: list[bytes] = []
            for line in path.read_bytes().splitlines():
                if not line.strip():
                    continue
                try:
                    row = LedgerRow.from_line(line)
                    clean_row(row, self.max_cost)
                except Exception:
                    dead.append(line)
                    continue
                rows.append((line, row))
            try:
                replayed += self._replay_rows(rows, dead)
            except self.store.Busy:
                log.warning("ledger spill %s not replayed yet: the database is busy or away", path)
                continue
            if dead:
                self.dead_letter(dead, path.name)
            path.unlink()
        if replayed:
            log.info("replayed %d spilled ledger rows", replayed)
        return replayed

    def _replay_rows(self, rows: list[tuple[bytes, LedgerRow]], dead: list[bytes]) -> int:
        try:
            return self.store.ledger_write([row for _, row in rows])
        except self.store.Busy:
            raise
        except Exception:
            log.warning("ledger spill: %d rows refused together; trying them one by one", len(rows))
        written = 0
        for line, row in rows:
            try:
                written += self.store.ledger_write([row])
            except self.store.Busy:
                raise
            except Exception:
                dead.append(line)
        return written

    def dead_letter(self, lines: list[bytes], source: str) -> None:
        """Rows no database will take, kept for a person (DEAD_LETTER files; /metrics and /status/ count
        their lines)."""
        self._spill_file(DEAD_LETTER, lines)
        log.error(
            "ledger: %d spilled rows from %s cannot be written; kept in *.%s", len(lines), source, DEAD_LETTER
        )


def clean_row(row: LedgerRow, max_cost: Decimal) -> None:
    """Values the ledger must not store are set aside (LedgerRow.vet); NUL characters (which PostgreSQL
    refuses in text and JSON) become U+FFFD."""
    row.vet(max_cost=max_cost)
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


class Messages:
    """The lines arriving on a file descriptor, read without blocking past a deadline. The gateway sends
    them in bursts (writer.SEND_EVERY), so a batch is a few reads, not one per row."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.lines: list[bytes] = []
        self.eof = False

    def next(self, timeout: float | None) -> bytes | None:
        """The next line; None when none came within `timeout` (None: wait) or at EOF."""
        while not self.lines:
            if self.eof:
                return None
            if timeout is not None:
                ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
                if not ready:
                    return None
            data = os.read(self.fd, 1 << 20)
            if not data:
                self.eof = True
                continue
            self.buffer += data
            *complete, self.buffer = self.buffer.split(b"\n")
            self.lines = complete[::-1]
        return self.lines.pop()


def serve(messages: Messages, batches: Batches, ack) -> None:
    """Batch the rows that arrive, write them, say so; until `S` or EOF."""
    stopping = False
    while not stopping:
        message = messages.next(1.0)
        if message is None:
            if messages.eof:
                break
            batches.write_keyless()
            continue
        rows, flushes, captures = [], [], []
        deadline = time.monotonic() + INTERVAL
        while True:
            kind, body = message[:1], message[1:]
            try:
                if kind == b"R":
                    rows.append(LedgerRow.from_line(body))
                elif kind == b"C":
                    captures.append(body)
                elif kind == b"K":
                    minute, reason = orjson.loads(body)
                    batches.keyless[(datetime.fromisoformat(minute), reason)] += 1
            except (ValueError, TypeError, ArithmeticError):  # never the writer's end: kept in a spill file
                log.exception("ledger: a line the writer cannot read, spilled as it is")
                batches.spill_line(message)
            if kind == b"F":
                flushes.append(body)
            elif kind == b"S":
                stopping = True
            if len(rows) >= BATCH or stopping or flushes:
                break
            message = messages.next(deadline - time.monotonic())
            if message is None:
                break
        batches.write(rows)
        batches.write_captures(captures)
        batches.write_keyless()
        report = [b"W %d %d %d\n" % (batches.written, batches.spilled, batches.done)]
        report += [b"F" + flush + b"\n" for flush in flushes]
        if ack is not None:
            try:
                ack.write(b"".join(report))
                ack.flush()
            except OSError:
                ack = (
                    None  # the gateway is gone (killed): its rows still in the pipe are written all the same
                )
    batches.write_keyless()


def main() -> None:
    """The process's life (ledger_main.py starts it once Django is set up)."""
    ack = os.fdopen(os.dup(1), "wb")  # answers to the gateway; anything else printed goes to stderr
    os.dup2(2, 1)
    batches = Batches(
        Store(),
        Path(os.environ[SPILL_VARIABLE]),
        max_cost=settings.GATEWAY_MAX_REQUEST_COST,
        capture_limit=settings.CAPTURE_MAX_BYTES,
    )
    try:
        batches.replay()
        serve(Messages(sys.stdin.fileno()), batches, ack)
    finally:
        Store.thread_done()
