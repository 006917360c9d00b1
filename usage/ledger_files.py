"""The ledger writer's files in the data dir: spills (rows the database refused for now, replayed at the
next start) and dead letters (rows no database would take, kept for a person). Read by /metrics and
/status/; written by the gateway's ledger process (usage/gateway/ledger_process.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

SPILL_DIR_NAME = "ledger-spill"
SPILL = "jsonl"  # a spill file's suffix
DEAD_LETTER = "dead"  # a dead-letter file's suffix


def ledger_spill_dir() -> Path:
    return Path(settings.DATA_DIR) / SPILL_DIR_NAME


def dead_letter_rows(spill_dir: Path | None = None) -> int:
    """Rows in the dead-letter files (one per line)."""
    folder = spill_dir or ledger_spill_dir()
    if not folder.is_dir():
        return 0
    total = 0
    for path in folder.glob(f"*.{DEAD_LETTER}"):
        try:
            total += sum(1 for line in path.read_bytes().splitlines() if line.strip())
        except OSError:
            continue
    return total
