"""Small factories for the catalogue pages' tests: models and dated price versions built with the ORM."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion, SyncRun

DATA = Path(__file__).resolve().parent.parent / "data" / "openrouter"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_model(model_id: str, *, prices: list[tuple[datetime, dict]] | None = None, **fields) -> CatalogModel:
    """A model with one price version per (valid_from, {category: "per-token string" | None})."""
    author = model_id.split("/", 1)[0]
    defaults = {
        "name": model_id,
        "author": author,
        "context_length": 8192,
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "supported_parameters": ["max_tokens", "temperature"],
        "first_seen": T0,
        "last_seen": T0,
    }
    defaults.update(fields)
    model = CatalogModel.objects.create(model_id=model_id, **defaults)
    versions = prices if prices is not None else [(T0, {"prompt": "0.000001", "completion": "0.000002"})]
    for i, (valid_from, values) in enumerate(versions):
        valid_to = versions[i + 1][0] if i + 1 < len(versions) else None
        PriceVersion.objects.create(
            catalog_model=model, valid_from=valid_from, valid_to=valid_to, **_prices(values)
        )
    return model


def _prices(values: dict) -> dict:
    out = {}
    for name in PRICE_FIELDS:
        raw = values.get(name, "0")
        out[name] = None if raw is None or raw == "-1" else Decimal(raw)
    if "overrides" in values:
        out["overrides"] = values["overrides"]
    return out


def make_sync_run(*, started_at: datetime, changes: dict, **counts) -> SyncRun:
    return SyncRun.objects.create(
        source="test",
        started_at=started_at,
        finished_at=started_at,
        status=SyncRun.Status.OK,
        changes=changes,
        added=len(changes.get("added", [])),
        repriced=len(changes.get("repriced", [])),
        retired=len(changes.get("retired", [])),
        **counts,
    )


def sync_snapshot(name: str = "models-2026-08-19.json", *, at: datetime = T0) -> None:
    """A real snapshot into the catalogue through the sync service."""
    from catalog.services.sync import catalog_sync

    run = catalog_sync(payload=(DATA / name).read_bytes(), source=name, now=at)
    assert run.status == SyncRun.Status.OK, run.error


SNAPSHOTS = (
    ("models-2025-05-23.json", datetime(2025, 5, 23, 9, 0, tzinfo=UTC)),
    ("models-2025-12-02.json", datetime(2025, 12, 2, 12, 0, tzinfo=UTC)),
    ("models-2026-02-27.json", datetime(2026, 2, 27, 23, 0, tzinfo=UTC)),
    ("models-2026-04-21.data-array.json", datetime(2026, 4, 21, 1, 0, tzinfo=UTC)),
    ("models-2026-05-01.data-array.json", datetime(2026, 5, 1, 1, 0, tzinfo=UTC)),
    ("models-2026-08-19.json", datetime(2026, 8, 18, 20, 0, tzinfo=UTC)),
)


def sync_all_snapshots() -> None:
    """The six real snapshots synced in date order: real price histories and change feeds."""
    for name, at in SNAPSHOTS:
        sync_snapshot(name, at=at)
