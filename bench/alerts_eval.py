"""One alert evaluation at scale: N ledger rows over 30 days (PostgreSQL), 1 000 keys with budgets, 400
models, 100 rules of every scheduled kind watching all of them; prints the time of one evaluation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tokenledger_bench \\
        .venv/bin/python bench/alerts_eval.py --rows 5000000 [--reuse]

Rows are made by the database itself (INSERT ... SELECT generate_series), then rolled up. The first
evaluation raises the alerts of every condition already on (budgets spent...); the next ones are the steady
state, the every-minute job's usual run. The goal (issue 20): under 1 s at 5M rows.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from usage.models import (  # noqa: E402
    Alert,
    AlertRule,
    AlertState,
    ApiKey,
    CapturedExchange,
    DailyRollup,
    HourlyRollup,
    LedgerEntry,
    RollupState,
    Upstream,
)
from usage.services.alerts.evaluate import alerts_evaluate  # noqa: E402
from usage.services.rollups import rollup_catch_up  # noqa: E402

KEYS, MODELS = 1000, 400


def log(message: str) -> None:
    print(message, flush=True)


def ensure_keys() -> list[int]:
    existing = list(
        ApiKey.objects.filter(name__startswith="bench-alerts-").order_by("pk").values_list("pk", flat=True)
    )
    if len(existing) == KEYS:
        return existing
    ApiKey.objects.filter(name__startswith="bench-alerts-").delete()
    ApiKey.objects.bulk_create(
        ApiKey(
            name=f"bench-alerts-{i:04d}",
            prefix=f"tl-ba{i:04d}",
            secret_hash=hashlib.sha256(f"bench-alerts-{i}".encode()).hexdigest(),
            budget_usd=[5, 50, 500, 5000][i % 4],
            budget_period=["daily", "weekly", "monthly", "none"][i % 4],
        )
        for i in range(KEYS)
    )
    return list(
        ApiKey.objects.filter(name__startswith="bench-alerts-").order_by("pk").values_list("pk", flat=True)
    )


def load(rows: int, key_ids: list[int]) -> None:
    """Rows spread over the last 30 days, keys and models round-robin, 2 % errors, costs up to 1 cent."""
    fields = [f for f in LedgerEntry._meta.concrete_fields if not f.primary_key]
    varying = {
        "api_key_id": f"{key_ids[0]} + (g %% {KEYS})",
        "created_at": "now() - (random() * interval '30 days')",
        "requested_model": f"'bench/m' || (g %% {MODELS})",
        "served_model": f"'bench/m' || (g %% {MODELS})",
        "status": "CASE WHEN g %% 50 = 0 THEN 'error' ELSE 'ok' END",
        "http_status": "CASE WHEN g %% 50 = 0 THEN 502 ELSE 200 END",
        "prompt_tokens": "(g %% 2000)",
        "completion_tokens": "(g %% 500)",
        "reported_cost": "round((random() * 0.01)::numeric, 9)",
        "computed_cost": "round((random() * 0.01)::numeric, 9)",
        "latency_ms": "(g %% 3000)",
    }
    columns, values = [], []
    for f in fields:
        columns.append(f'"{f.column}"')
        if f.attname in varying:
            values.append(varying[f.attname])
        elif f.get_internal_type() == "JSONField":
            values.append("'{}'::jsonb")
        elif f.null:
            values.append("NULL")
        else:
            default = f.get_default()
            values.append(f"'{default}'" if isinstance(default, str) else str(default))
    models = (CapturedExchange, LedgerEntry, HourlyRollup, DailyRollup)  # captures refer to the ledger
    tables = ", ".join(m._meta.db_table for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")
        started = time.perf_counter()
        cursor.execute(
            f"INSERT INTO {LedgerEntry._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM generate_series(1, %s) AS g",
            [rows],
        )
        cursor.execute(f"ANALYZE {LedgerEntry._meta.db_table}")
    log(f"loaded {rows:,} rows in {time.perf_counter() - started:.1f} s")
    RollupState.objects.all().delete()
    started = time.perf_counter()
    rollup_catch_up()
    log(f"rolled up in {time.perf_counter() - started:.1f} s")


def ensure_rules() -> None:
    AlertRule.objects.filter(name__startswith="bench ").delete()
    specs = (
        [dict(kind="budget", thresholds=[50, 80, 100])] * 30
        + [dict(kind="forecast", days=3)] * 20
        + [dict(kind="spend_spike", scope="key", window="hour", factor=3, min_amount=1)] * 10
        + [dict(kind="spend_spike", scope="model", window="hour", factor=3, min_amount=1)] * 5
        + [dict(kind="spend_spike", scope="model", window="day", factor=3, min_amount=1)] * 5
        + [dict(kind="error_spike", scope="model", error_percent=1, min_requests=5)] * 15
        + [dict(kind="error_spike", scope="upstream", error_percent=1, min_requests=5)] * 5
        + [dict(kind="upstream_down", probes=3)] * 10
    )
    AlertRule.objects.bulk_create(AlertRule(name=f"bench {i:03d}", **spec) for i, spec in enumerate(specs))
    Upstream.objects.get_or_create(name="openrouter")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    key_ids = ensure_keys()
    if not (args.reuse and LedgerEntry.objects.count() == args.rows):
        load(args.rows, key_ids)
    ensure_rules()
    AlertState.objects.all().delete()
    Alert.objects.all().delete()
    times = []
    for run in range(args.runs + 1):
        started = time.perf_counter()
        result = alerts_evaluate(now=timezone.now())
        elapsed = time.perf_counter() - started
        log(
            f"evaluation {run}: {elapsed * 1000:.0f} ms, rules={result.rules} fired={result.fired} "
            f"resolved={result.resolved}"
        )
        if run:
            times.append(elapsed)
    log(f"steady state: median {statistics.median(times) * 1000:.0f} ms over {len(times)} evaluations")


if __name__ == "__main__":
    main()
