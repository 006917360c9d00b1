"""Catalogue sync timings against the issue's targets, each a fresh `manage.py` process (what cron runs).

    .venv/bin/python bench/catalog_sync.py [--postgres postgres://postgres@127.0.0.1:5432/tokenledger_bench]
                                           [--runs 5]

Builds a ~550-model listing from the real snapshots (2026-08-19 plus models only older snapshots list), then
prints the median wall time of: a bare `manage.py check`; a full sync of the listing into an empty catalogue;
an unchanged re-sync (and the price rows it wrote: must be 0). Targets: full <= 2x check, re-sync <= 1.2x.
SQLite always (a temporary data dir); PostgreSQL too when --postgres is given (the database is dropped and
created again: give it a throw-away name).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "openrouter"
SNAPSHOTS = [
    "models-2026-08-19.json",
    "models-2026-05-01.data-array.json",
    "models-2026-04-21.data-array.json",
    "models-2026-02-27.json",
    "models-2025-12-02.json",
]
TARGET_MODELS = 550


def build_listing(path: Path) -> int:
    seen: dict[str, dict] = {}
    for name in SNAPSHOTS:
        raw = json.loads((DATA / name).read_text())
        for entry in raw["data"] if isinstance(raw, dict) else raw:
            if len(seen) < TARGET_MODELS:
                seen.setdefault(entry["id"], entry)
    path.write_text(json.dumps({"data": list(seen.values())}))
    return len(seen)


def manage(env: dict, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return elapsed, result.stdout.strip()


def count_rows(env: dict) -> int:
    _, out = manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from catalog.models import PriceVersion; print(PriceVersion.objects.count())",
    )
    return int(out.splitlines()[-1])


def reset_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def bench(label: str, env: dict, listing: Path, runs: int, reset) -> None:
    checks, fulls, resyncs, written = [], [], [], []
    summary_full = summary_resync = ""
    for _ in range(runs):
        reset()
        manage(env, "migrate", "-v0")
        checks.append(manage(env, "check")[0])
        seconds, summary_full = manage(env, "sync_catalog", "--from-file", str(listing))
        fulls.append(seconds)
        before = count_rows(env)
        seconds, summary_resync = manage(env, "sync_catalog", "--from-file", str(listing))
        resyncs.append(seconds)
        written.append(count_rows(env) - before)
    check, full, resync = (statistics.median(x) for x in (checks, fulls, resyncs))
    print(f"[{label}] median of {runs} runs")
    print(f"  manage.py check           {check * 1000:7.0f} ms")
    print(f"  full sync                 {full * 1000:7.0f} ms  = {full / check:.2f}x check (target <= 2x)")
    print(f"                            {summary_full}")
    print(
        f"  unchanged re-sync         {resync * 1000:7.0f} ms  = {resync / check:.2f}x check (target <= 1.2x)"
    )
    print(f"                            {summary_resync}")
    print(f"  price rows written by the re-syncs: {sum(written)} (target 0)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a throw-away PostgreSQL database URL")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catalog-sync-bench-"))
    listing = work / "listing.json"
    print(f"listing: {build_listing(listing)} models, {listing.stat().st_size // 1024} KiB")
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    base.update({"TOKENLEDGER_DATA_DIR": str(work / "data"), "OPENROUTER_API_KEY": "sk-bench"})

    def reset_sqlite() -> None:
        for suffix in ("", "-wal", "-shm"):
            (work / "data" / f"db.sqlite3{suffix}").unlink(missing_ok=True)

    bench("SQLite", base, listing, args.runs, reset_sqlite)
    if args.postgres:
        bench(
            "PostgreSQL",
            {**base, "DATABASE_URL": args.postgres},
            listing,
            args.runs,
            lambda: reset_postgres(args.postgres),
        )


if __name__ == "__main__":
    main()
