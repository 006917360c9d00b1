"""Spend, activity and keys pages at millions of ledger rows: load, roll up, time pages, EXPLAIN, CSV memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tokenledger_bench \\
        .venv/bin/python bench/spend_pages.py --rows 5000000 [--days 30] [--samples 30] [--reuse] \\
        [--only "/ (home"] [--skip-csv]

Loads N demo rows (usage/services/demo_traffic.py, the generator behind `seed_demo_traffic`) with COPY on
PostgreSQL (bulk_create elsewhere), rolls them up, then requests each page through Django's test client as a
staff user and as a member who owns one key, printing p50/p95 in ms; prints the EXPLAIN plan of the queries
behind the pages and the peak Python memory of streaming CSV exports of one day and of seven days of rows
(the same peak for both means constant memory). `--reuse` keeps an earlier run's rows (the same --rows).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
os.environ.setdefault("TOKENLEDGER_HTTPS", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Q, Sum  # noqa: E402
from django.db.models.functions import Mod  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion  # noqa: E402
from usage.models import (  # noqa: E402
    ApiKey,
    CapturedExchange,
    DailyRollup,
    HourlyRollup,
    LedgerEntry,
    RollupState,
)
from usage.selectors import activity as activity_log  # noqa: E402
from usage.selectors import activity_count  # noqa: E402
from usage.selectors.rollups import ledger_grouped  # noqa: E402
from usage.services.demo_traffic import DEMO_KEYS, demo_models, demo_rows, ledger_rows_insert  # noqa: E402
from usage.services.rollups import rollup_catch_up  # noqa: E402

D = Decimal
# Used only when the catalogue is empty: USD per 1M input, output, cache read, cache write.
SYNTHETIC_MODELS = {
    "openai/gpt-4o-mini": ("0.15", "0.6", "0.075", "0"),
    "openai/gpt-4o": ("2.5", "10", "1.25", "0"),
    "anthropic/claude-sonnet-4": ("3", "15", "0.3", "3.75"),
    "anthropic/claude-3.5-haiku": ("0.8", "4", "0.08", "1"),
    "google/gemini-2.5-flash": ("0.3", "2.5", "0.075", "0.3833"),
    "deepseek/deepseek-chat-v3-0324": ("0.25", "0.85", "0", "0"),
    "meta-llama/llama-3.3-70b-instruct": ("0.038", "0.12", "0", "0"),
    "openai/o4-mini": ("1.1", "4.4", "0.275", "0"),
}


def log(message: str) -> None:
    print(message, flush=True)


def ensure_catalogue() -> None:
    if CatalogModel.objects.filter(price_versions__prompt__gt=0).exists():
        return
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for model_id, prices in SYNTHETIC_MODELS.items():
        model = CatalogModel.objects.create(
            model_id=model_id, author=model_id.split("/")[0], name=model_id, first_seen=start, last_seen=start
        )
        per_token = [D(p) / 1_000_000 for p in prices]
        values = {name: D(0) for name in PRICE_FIELDS}
        values.update(
            prompt=per_token[0],
            completion=per_token[1],
            input_cache_read=per_token[2],
            input_cache_write=per_token[3],
        )
        PriceVersion.objects.create(catalog_model=model, valid_from=start, **values)


# Two models whose prices change with the request (catalog.price_schedule), for the /compare/ pages.
# Tiers at the catalogue's lowest real threshold (32,000) and claude-sonnet-4's (200,000); deepseek-v4-pro's
# windows (whole hours, as every timed model in the snapshots: an edge inside an hour reads those rows raw).
BENCH_TIERED = "bench/tiered"
BENCH_TIMED = "bench/timed"


def ensure_priced_models() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    overrides = {
        BENCH_TIERED: (
            ("3", "15"),
            [
                {"min_prompt_tokens": 32000, "prompt": "0.000006", "completion": "0.0000225"},
                {"min_prompt_tokens": 200000, "prompt": "0.000009"},
            ],
        ),
        BENCH_TIMED: (
            ("0.66", "1.98"),
            [
                {"utc_start": 1000, "utc_end": 100, "prompt": "0.00000066"},
                {"utc_start": 100, "utc_end": 400, "prompt": "0.00000132", "completion": "0.00000396"},
                {"utc_start": 600, "utc_end": 1000, "prompt": "0.00000132", "completion": "0.00000396"},
            ],
        ),
    }
    for model_id, ((prompt, completion), entries) in overrides.items():
        if CatalogModel.objects.filter(model_id=model_id).exists():
            PriceVersion.objects.filter(catalog_model__model_id=model_id).update(overrides=entries)
            continue
        model = CatalogModel.objects.create(
            model_id=model_id, author="bench", name=model_id, first_seen=start, last_seen=start
        )
        values = {name: D(0) for name in PRICE_FIELDS}
        values.update(prompt=D(prompt) / 1_000_000, completion=D(completion) / 1_000_000)
        PriceVersion.objects.create(catalog_model=model, valid_from=start, overrides=entries, **values)


def ensure_people() -> tuple:
    users = get_user_model().objects
    admin = users.filter(username="bench-admin").first() or users.create_superuser("bench-admin", "", "x")
    member = users.filter(username="bench-member").first() or users.create_user("bench-member", "", "x")
    keys = []
    for index, (name, budget, period, share) in enumerate(DEMO_KEYS):
        key = ApiKey.objects.filter(name=name).first()
        if key is None:
            # The bench makes its keys directly (no secret is ever used); the member owns one of them.
            key = ApiKey.objects.create(
                name=name,
                owner=member if index == 1 else admin,
                prefix=f"tl-bench{index}",
                secret_hash=hashlib.sha256(f"bench-{name}".encode()).hexdigest(),
                budget_usd=budget,
                budget_period=period,
            )
        keys.append((key, share))
    return admin, member, keys


def copy_rows(rows, total: int) -> int:
    """COPY generated rows into the ledger (PostgreSQL), every concrete column given."""
    fields = [f for f in LedgerEntry._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    defaults = {f.attname: f.get_default() for f in fields}
    json_fields = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    written = 0
    started = time.perf_counter()
    sql = f"COPY {LedgerEntry._meta.db_table} ({columns}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = []
            for f in fields:
                value = row.get(f.attname, defaults[f.attname])
                values.append("{}" if f.attname in json_fields else value)
            copy.write_row(values)
            written += 1
            if written % 500_000 == 0:
                rate = written / (time.perf_counter() - started)
                log(f"  copied {written:,}/{total:,} rows ({rate:,.0f} rows/s)")
    return written


def load(rows: int, days: int, reuse: bool) -> tuple:
    call_command("migrate", verbosity=0)
    ensure_catalogue()
    ensure_priced_models()
    admin, member, keys = ensure_people()
    existing = LedgerEntry.objects.count()
    if reuse and existing == rows:
        log(f"reusing {existing:,} ledger rows")
        return admin, member, keys
    log(f"clearing {existing:,} ledger rows, loading {rows:,} over {days} days")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            models = (CapturedExchange, LedgerEntry, HourlyRollup, DailyRollup)
            tables = [model._meta.db_table for model in models]
            cursor.execute(f"TRUNCATE {', '.join(tables)}")
        else:
            CapturedExchange.objects.all().delete()
            LedgerEntry.objects.all().delete()
            HourlyRollup.objects.all().delete()
            DailyRollup.objects.all().delete()
    RollupState.objects.all().delete()
    now = timezone.now()
    generated = demo_rows(
        keys=keys, models=demo_models(), count=rows, start=now - timedelta(days=days), end=now
    )
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        copy_rows(generated, rows)
    else:
        ledger_rows_insert(generated)
    log(f"loaded {rows:,} rows in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    result = rollup_catch_up()
    log(
        f"rolled up {result.hours} hours into {result.rows:,} rollup rows "
        f"in {time.perf_counter() - started:.1f} s"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return admin, member, keys


# A captured chat exchange as the writer stores it (usage.exchanges), about 1.6 KB: a system prompt, a
# question, an answer and its usage.
CAPTURED_REQUEST = {
    "model": "openai/gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a careful assistant for a support team. " * 6},
        {"role": "user", "content": "Summarise the customer's last three tickets and suggest a reply. " * 5},
    ],
    "temperature": 0.2,
}
CAPTURED_REPLY = {
    "id": "gen-1765000000-bench",
    "object": "chat.completion",
    "model": "openai/gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "The customer reported a billing error twice. " * 12},
        }
    ],
    "usage": {"prompt_tokens": 212, "completion_tokens": 130, "total_tokens": 342},
}


def ensure_captures(fraction: float) -> int:
    """Captured bodies for `fraction` of the ledger's rows (every n-th id), as keys that capture leave them
    (issue 19: the activity pages with 10 % of the rows captured). Kept when the count is already right."""
    every = max(round(1 / fraction), 1) if fraction > 0 else 0
    want = LedgerEntry.objects.annotate(left=Mod("id", every)).filter(left=0).count() if every else 0
    have = CapturedExchange.objects.count()
    if have == want:
        return have
    started = time.perf_counter()
    table, ledger = CapturedExchange._meta.db_table, LedgerEntry._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (our tables)
        if every:
            columns = "entry_id, created_at, request, request_text, reply, reply_text, truncated"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608 (our tables)
                f"SELECT id, created_at, %s, '', %s, '', false FROM {ledger} WHERE id %% {every} = 0",
                [json.dumps(CAPTURED_REQUEST), json.dumps(CAPTURED_REPLY)],
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    log(f"captured bodies for {want:,} rows (every {every}th) in {time.perf_counter() - started:.1f} s")
    return want


def timed(client: Client, url: str, samples: int) -> tuple[float, float, int]:
    client.get(url)  # warm-up (templates, connection)
    times = []
    status = 0
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, status


def deep_cursor(depth_share: float) -> str:
    """The cursor of the row `depth_share` of the way back in the log (as if one had paged that far)."""
    first = LedgerEntry.objects.order_by("created_at").values_list("created_at", flat=True).first()
    last = LedgerEntry.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    moment = last - (last - first) * depth_share
    row = (
        LedgerEntry.objects.filter(created_at__lte=moment)
        .order_by("-created_at", "-id")
        .values("created_at", "id")[0]
    )
    return activity_log.encode_cursor(row["created_at"], row["id"])


def rare_filter() -> str:
    """The query string of the rarest (model, provider, status) combination in the ledger."""
    row = (
        DailyRollup.objects.values("model", "provider", "status")
        .annotate(n=Sum("requests"))
        .order_by("n", "model", "provider", "status")
        .first()
    )
    return urlencode({"model": row["model"], "provider": row["provider"], "status": row["status"]})


def rarest_provider() -> str:
    """The provider with the fewest requests, in lower case (the log's provider filter ignores case)."""
    row = (
        DailyRollup.objects.exclude(provider="")
        .values("provider")
        .annotate(n=Sum("requests"))
        .order_by("n", "provider")
        .first()
    )
    return row["provider"].lower()


def explain(label: str, queryset) -> None:
    plan = queryset.explain()
    uses_index = "Index" in plan
    log(f"\nEXPLAIN {label}: {'uses an index' if uses_index else 'NO INDEX'}")
    for line in plan.splitlines()[:12]:
        log(f"    {line}")


def explains(keys) -> None:
    if connection.vendor != "postgresql":
        return
    key = keys[0][0]
    now = timezone.now()
    newest = LedgerEntry.objects.order_by("-created_at", "-id")
    explain("activity, first page", newest[:51])
    moment, entry_id = activity_log.decode_cursor(deep_cursor(0.9))
    deep = newest.filter(created_at__lte=moment).filter(Q(created_at__lt=moment) | Q(id__lt=entry_id))
    explain("activity, a deep page", deep[:51])
    explain("activity filtered by key", newest.filter(api_key=key)[:51])
    bounded = activity_count.COUNT_LIMIT + 1
    explain("activity, matching rows counted (no filter)", newest.order_by().values("id")[:bounded])
    rare = LedgerEntry.objects.filter(provider__iexact=rarest_provider())
    explain("activity, a provider in any case", rare.order_by("-created_at", "-id")[:51])
    explain("activity, a provider in any case, counted", rare.order_by().values("id")[:bounded])
    tail = LedgerEntry.objects.filter(created_at__gte=now - timedelta(hours=1))
    explain(
        "spend, raw ledger of the current hour",
        ledger_grouped(tail, "api_key_id", "model", "provider", "status"),
    )
    explain("spend, 30 days of daily rollups", DailyRollup.objects.filter(day__gte=now - timedelta(days=30)))
    explain("spend, today's hourly rollups", HourlyRollup.objects.filter(hour__gte=now - timedelta(hours=20)))
    explain(
        "keys, a key's daily rollups this month",
        DailyRollup.objects.filter(api_key=key, day__gte=now - timedelta(days=30)),
    )


def csv_memory(client: Client, days: int) -> None:
    end = timezone.now().date()
    start = end - timedelta(days=days - 1)
    url = f"/activity/export.csv?start={start}&end={end}"
    tracemalloc.start()
    started = time.perf_counter()
    response = client.get(url)
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += 1
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    log(
        f"CSV export of {days} day(s): {lines - 1:,} rows, {size / 1e6:.1f} MB in {elapsed:.1f} s, "
        f"peak Python memory {peak / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--skip-csv", action="store_true")
    parser.add_argument("--only", default="", help="Time only the pages whose label contains this text.")
    parser.add_argument(
        "--captured", type=float, default=0.1, help="Share of the rows with captured bodies (0.1)."
    )
    parser.add_argument(
        "--retention-days", type=int, default=0, help="Also time /compare/ with this LEDGER_RETENTION_DAYS."
    )
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    log(f"database: {connection.vendor} {settings.DATABASES['default']['NAME']}")
    admin, member, keys = load(args.rows, args.days, args.reuse)
    log(f"ledger rows: {LedgerEntry.objects.count():,}; rollup rows: {HourlyRollup.objects.count():,}")
    captured = ensure_captures(args.captured)

    staff = Client()
    staff.force_login(admin)
    owner = Client()
    owner.force_login(member)
    entry_id = LedgerEntry.objects.order_by("-id").values_list("id", flat=True)[1000]
    served = list(CatalogModel.objects.exclude(author="bench").order_by("model_id")[:2])
    plain = ",".join(m.model_id for m in served)
    priced = ",".join([BENCH_TIERED, BENCH_TIMED, served[0].model_id])
    pages = [
        ("staff / (home overview)", staff, "/"),
        ("member / (home overview)", owner, "/"),
        ("staff /spend/ today", staff, "/spend/?range=today"),
        ("staff /spend/ 7 days", staff, "/spend/?range=7d"),
        ("staff /spend/ 30 days", staff, "/spend/?range=30d"),
        ("member /spend/ 30 days", owner, "/spend/?range=30d"),
        ("staff /activity/ first page", staff, "/activity/"),
        ("staff /activity/ deep page (90% back)", staff, f"/activity/?before={deep_cursor(0.9)}"),
        ("staff /activity/?status=error", staff, "/activity/?status=error"),
        ("staff /activity/?key=", staff, f"/activity/?key={keys[2][0].id}"),
        ("staff /activity/?model=(none such)", staff, "/activity/?model=no/such-model"),
        ("staff /activity/ rare model+provider+status", staff, f"/activity/?{rare_filter()}"),
        ("staff /activity/?model=(part of an id)", staff, f"/activity/?model={served[0].model_id[-6:]}"),
        ("staff /activity/?provider=(rarest, lower case)", staff, f"/activity/?provider={rarest_provider()}"),
        ("staff /activity/?cost_min=0.05", staff, "/activity/?cost_min=0.05"),
        ("staff /activity/?latency_min=20 (s)", staff, "/activity/?latency_min=20"),
        ("member /activity/ first page", owner, "/activity/"),
        ("member /activity/ deep page", owner, f"/activity/?before={deep_cursor(0.9)}"),
        ("staff /activity/<id>/", staff, f"/activity/{entry_id}/"),
        *[
            ("staff /activity/<id>/ (captured bodies)", staff, f"/activity/{captured_id}/")
            for captured_id in CapturedExchange.objects.order_by("-entry_id").values_list(
                "entry_id", flat=True
            )[:1]
            if captured
        ],
        ("staff /keys/", staff, "/keys/"),
        ("member /keys/", owner, "/keys/"),
        ("staff spend CSV by model (30 d)", staff, "/spend/export/model.csv?range=30d"),
        ("staff /compare/ 2 plain models, 30 d", staff, f"/compare/?models={plain}"),
        ("staff /compare/ tiered+timed+plain, 30 d", staff, f"/compare/?models={priced}"),
        ("member /compare/ tiered+timed+plain, 30 d", owner, f"/compare/?models={priced}"),
        ("staff /compare/ tiered+timed+plain, 7 d", staff, f"/compare/?models={priced}&days=7"),
        ("staff /models/<served>/ (all-time traffic)", staff, f"/models/{served[0].model_id}/"),
    ]
    pages = [page for page in pages if args.only in page[0]]
    log(f"\n{'page':44} {'p50 ms':>8} {'p95 ms':>8}  status   ({args.samples} samples each)")
    for label, client, url in pages:
        p50, p95, status = timed(client, url, args.samples)
        log(f"{label:44} {p50:8.1f} {p95:8.1f}  {status}")
    if args.retention_days:
        # Hours before the retention are read from the hourly rollups (pruned or not: the page cannot tell).
        settings.LEDGER_RETENTION_DAYS = args.retention_days
        log(f"\nwith LEDGER_RETENTION_DAYS={args.retention_days} (older hours from the rollups):")
        for label, client, url in pages[-5:]:
            p50, p95, status = timed(client, url, args.samples)
            log(f"{label:44} {p50:8.1f} {p95:8.1f}  {status}")
    if not args.only:
        explains(keys)
    if not args.skip_csv:
        log("")
        csv_memory(staff, 1)
        csv_memory(staff, 7)


if __name__ == "__main__":
    main()
