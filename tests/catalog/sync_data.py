"""The real snapshots for the sync tests, and an independent reading of what a sync of each must report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from catalog.models import CatalogModel, PriceVersion

DATA = Path(__file__).resolve().parent.parent / "data" / "openrouter"
# (file, the instant we pretend it was fetched), in date order.
SNAPSHOTS = [
    ("models-2025-05-23.json", datetime(2025, 5, 23, 9, tzinfo=UTC)),
    ("models-2025-12-02.json", datetime(2025, 12, 2, 9, tzinfo=UTC)),
    ("models-2026-02-27.json", datetime(2026, 2, 27, 9, tzinfo=UTC)),
    ("models-2026-04-21.data-array.json", datetime(2026, 4, 21, 9, tzinfo=UTC)),
    ("models-2026-05-01.data-array.json", datetime(2026, 5, 1, 9, tzinfo=UTC)),
    ("models-2026-08-19.json", datetime(2026, 8, 19, 9, tzinfo=UTC)),
]


def entries(name: str) -> list[dict]:
    raw = json.loads((DATA / name).read_text())
    return raw["data"] if isinstance(raw, dict) else raw


def pricing_key(pricing: dict) -> tuple:
    """Prices as the issue compares them: exact Decimals, a missing or zero category ignored."""
    out = []
    for name, value in pricing.items():
        if name == "overrides":
            if value:
                out.append((name, json.dumps(value, sort_keys=True)))
        elif Decimal(value) != 0:
            out.append((name, Decimal(value)))
    return tuple(sorted(out))


def expected_counts() -> list[dict]:
    """What each sync in date order must report, from the files alone (not from the service)."""
    ever_seen: set[str] = set()
    current: set[str] = set()
    last_prices: dict[str, tuple] = {}
    results = []
    for name, _ in SNAPSHOTS:
        listing = {e["id"]: pricing_key(e["pricing"]) for e in entries(name)}
        added = [i for i in listing if i not in ever_seen]
        repriced = [i for i in listing if i in ever_seen and last_prices[i] != listing[i]]
        retired = current - set(listing)
        results.append(
            {
                "models": len(listing),
                "added": len(added),
                "repriced": len(repriced),
                "retired": len(retired),
                "unchanged": len(listing) - len(added) - len(repriced),
            }
        )
        ever_seen |= set(listing)
        current = set(listing)
        last_prices.update(listing)
    return results


def catalogue_state() -> tuple[list, list]:
    """Everything a sync may change, to compare before / after a failed one."""
    models = list(CatalogModel.objects.order_by("pk").values())
    versions = list(PriceVersion.objects.order_by("pk").values())
    return models, versions
