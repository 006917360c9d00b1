"""Server time of the catalogue pages on SQLite: /models/ with the full 414-model snapshot (and ~550 models).

    .venv/bin/python bench/catalog_pages.py [--runs 30]

Builds a throwaway SQLite database in a temporary data dir, loads the 2026-08-19 snapshot (through
catalog.services.sync.catalog_sync), then renders pages with Django's test
client (no network, server time only) and prints min / median / p95 ms and the query count per page.
On a shared, busy machine the minimum is the figure to compare with the 50 ms budget.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "data" / "openrouter" / "models-2026-08-19.json"


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TOKENLEDGER_DATA_DIR"] = tempfile.mkdtemp(prefix="tl-bench-pages-")
    os.environ.pop("DATABASE_URL", None)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["TOKENLEDGER_HTTPS"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load(extra: int) -> int:
    """The snapshot, plus `extra` renamed copies of its models (to reach a bigger catalogue)."""
    payload = json.loads(SNAPSHOT.read_text())
    entries = payload["data"]
    copies = []
    for i in range(extra):
        copy = dict(entries[i % len(entries)])
        copy["id"] = f"{copy['id']}-copy-{i}"
        copies.append(copy)
    from catalog.services.sync import catalog_sync

    catalog_sync(payload={"data": entries + copies}, source="bench")
    from catalog.models import CatalogModel

    return CatalogModel.objects.filter(retired_at__isnull=True).count()


def measure(client, path: str, runs: int) -> tuple[float, float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm up (template compilation, caches)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    return times[0], statistics.median(times), p95, len(queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user("bench", password="bench-password-1")  # noqa: S106
    client = Client()
    client.force_login(user)
    print(f"catalogue pages, SQLite, Django test client, {args.runs} runs each (server time, no network)")
    for extra in (0, 136):
        models = load(extra)
        for path in (
            "/models/",
            "/models/?q=gpt&sort=-input",
            "/models/?free=1",
            "/compare/?models=openai/gpt-4o,anthropic/claude-sonnet-4,google/gemini-2.5-flash",
        ):
            fastest, median, p95, queries, size = measure(client, path, args.runs)
            print(
                f"{models:4d} models  {path:<88s} min {fastest:5.1f}  median {median:6.1f}  "
                f"p95 {p95:6.1f} ms  queries {queries:2d}  {size / 1024:6.0f} KiB"
            )


if __name__ == "__main__":
    main()
