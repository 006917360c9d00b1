"""The ledger writer, the gateway's side: rows handed to a process of their own, never lost on a stop.

The event loop turns a finished request's LedgerRow into one line of JSON and queues it; a thread pipes the
lines to the writer's process (ledger_process.py), which writes them in batches, and another thread reads
its answers (rows written and spilled, flushes done). No database work, and no ORM, in this process: the
interpreter lock the event loop needs is never held for a batch.

Every row is in the process's journal (journal.py) before `record`; the journal deletes a segment once
`done` covers the rows queued before it closed. A writer process that dies alone is started again; the
rows it had not yet written are lost with it (they are in the spill files if the database had refused
them). A gateway killed with its writer's process alive: the process writes what it read, and holds the
journal's lock (`keep_fds`) until then.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from base64 import b64encode
from datetime import datetime
from pathlib import Path

import orjson

from usage.gateway.row import LedgerRow

log = logging.getLogger("tokenledger.gateway")

SPILL_VARIABLE = "TOKENLEDGER_LEDGER_SPILL"
SEND_EVERY = 0.01  # seconds the sender gathers lines before it writes them (the journal has them meanwhile)
STOP = b"S\n"


class LedgerWriter:
    def __init__(
        self, spill_dir: Path, database: str, keep_fds: tuple[int, ...] = (), capture_limit: int | None = None
    ) -> None:
        self.spill_dir = spill_dir
        self.database = database  # DATABASE_URL for the writer's process
        self.capture_limit = capture_limit  # CAPTURE_MAX_BYTES for the writer's process (None: its own)
        self.keep_fds = keep_fds  # inherited by the writer's process (the journal's lock: journal.py)
        self.lines: queue.SimpleQueue = queue.SimpleQueue()
        self.process: subprocess.Popen | None = None
        self.sender: threading.Thread | None = None
        self.receiver: threading.Thread | None = None
        self.stopping = False
        self.changed = threading.Condition()
        self.written = 0
        self.spilled = 0
        self.pending = 0  # rows queued and not yet written or spilled
        self.queued = 0  # rows queued since the start
        self.done = 0  # rows written or spilled since the start
        self.sent = 0  # rows piped to writer processes since the start
        self.flushed: set[int] = set()
        self.flush_ids = 0

    # ---- the event loop's side ----
    def record(self, row: LedgerRow, line: bytes | None = None) -> None:
        """Queue a row (`line`: its to_line(), when the caller has it already)."""
        line = b"R" + (line or row.to_line()) + b"\n"
        with self.changed:
            self.pending += 1
            self.queued += 1
        self.lines.put(line)

    def capture(self, row: LedgerRow, request: bytes, reply) -> None:
        """Queue a capturing key's bodies (after its row): the request's, and the reply's bytes kept
        (bodies.Kept; None when there was no reply). The writer's process assembles and stores them."""
        head = tail = b""
        cut = False
        if reply is not None:
            head, tail, cut = reply.data, reply.tail, reply.overflow
        about = orjson.dumps([row.request_id, row.endpoint, row.stream, cut])
        parts = (b"C" + about, b64encode(request), b64encode(head), b64encode(tail))
        self.lines.put(b" ".join(parts) + b"\n")

    def count_keyless(self, reason: str, at: datetime) -> None:
        """One more request refused without a known key, in `at`'s minute."""
        minute = at.replace(second=0, microsecond=0).isoformat()
        self.lines.put(b"K" + orjson.dumps([minute, reason]) + b"\n")

    # ---- start, stop, waits ----
    def start(self) -> None:
        self.stopping = False
        self._spawn()
        self.sender = threading.Thread(target=self._send, name="ledger-sender", daemon=True)
        self.sender.start()

    def _spawn(self) -> None:
        env = {**os.environ, "DATABASE_URL": self.database, SPILL_VARIABLE: str(self.spill_dir)}
        if self.capture_limit is not None:
            env["CAPTURE_MAX_BYTES"] = str(self.capture_limit)
        self.process = subprocess.Popen(  # noqa: S603 (our own module, no input)
            [sys.executable, "-m", "usage.gateway.ledger_main"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            pass_fds=self.keep_fds,
            start_new_session=True,  # a Ctrl-C to the server's terminal is the gateway's to handle, not its
        )
        base = (self.written, self.spilled, self.done)  # by the processes before this one
        self.receiver = threading.Thread(target=self._receive, args=(self.process, base), daemon=True)
        self.receiver.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued, then end the writer's process (the lifespan's shut-down)."""
        if self.sender is None:
            return
        self.stopping = True
        self.lines.put(STOP)
        self.sender.join(timeout)
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("the ledger writer did not stop in %s s; killed", timeout)
                self.process.kill()
            self.receiver.join(timeout)
        self.sender = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Write what is queued and the keyless counts now; True once done."""
        with self.changed:
            self.flush_ids += 1
            number = self.flush_ids
        self.lines.put(b"F%d\n" % number)
        with self.changed:
            return self.changed.wait_for(lambda: number in self.flushed, timeout)

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

    # ---- the threads ----
    def _send(self) -> None:
        """Pipe the queued lines to the writer's process, all that arrived in SEND_EVERY at a time: one
        wake-up and one write for many rows, on both sides of the pipe."""
        while True:
            lines = [self.lines.get()]
            time.sleep(SEND_EVERY)
            while True:
                try:
                    lines.append(self.lines.get_nowait())
                except queue.Empty:
                    break
            data = b"".join(lines)
            rows = sum(1 for line in lines if line.startswith(b"R"))
            while True:
                try:
                    self.process.stdin.write(data)
                    self.process.stdin.flush()
                    break
                except (OSError, ValueError):  # the process is gone: a new one takes these lines
                    self._restart()
            self.sent += rows
            if STOP in lines:
                self.process.stdin.close()
                return

    def _restart(self) -> None:
        """A new writer process, once the dead one's last answers are read; the rows it never wrote count as
        done (lost), so that nobody waits for them."""
        dead = self.process
        dead.wait()
        self.receiver.join()
        with self.changed:
            lost = self.sent - self.done
            log.error(
                "the ledger writer's process ended (exit %s) with %d rows not written; starting it again",
                dead.returncode,
                lost,
            )
            self.done += lost
            self.pending = self.queued - self.done
            self.changed.notify_all()
        self._spawn()

    def _receive(self, process: subprocess.Popen, base: tuple[int, int, int]) -> None:
        """The writer's answers: totals after each batch (added to `base`), flushes done."""
        for line in process.stdout:
            with self.changed:
                if line.startswith(b"W "):
                    written, spilled, done = (int(n) for n in line.split()[1:])
                    self.written = base[0] + written
                    self.spilled = base[1] + spilled
                    self.done = base[2] + done
                    self.pending = self.queued - self.done
                elif line.startswith(b"F"):
                    self.flushed.add(int(line[1:]))
                self.changed.notify_all()
