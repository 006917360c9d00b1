"""Small factories for the catalogue pages' tests: models and dated price versions built with the ORM."""

from __future__ import annotations

import json
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


def load_snapshot(name: str = "models-2026-08-19.json", *, at: datetime = T0) -> int:
    """Every model of a real snapshot, current, with its listed prices (stand-in for a sync)."""
    raw = json.loads((DATA / name).read_text())
    entries = raw["data"] if isinstance(raw, dict) else raw
    models = []
    for e in entries:
        arch = e.get("architecture") or {}
        top = e.get("top_provider") or {}
        models.append(
            CatalogModel(
                model_id=e["id"],
                name=e.get("name") or "",
                author=e["id"].split("/", 1)[0],
                description=e.get("description") or "",
                context_length=e.get("context_length"),
                input_modalities=arch.get("input_modalities") or [],
                output_modalities=arch.get("output_modalities") or [],
                supported_parameters=e.get("supported_parameters") or [],
                default_parameters=e.get("default_parameters") or {},
                top_provider=top,
                max_completion_tokens=top.get("max_completion_tokens"),
                created=datetime.fromtimestamp(e["created"], UTC) if e.get("created") else None,
                first_seen=at,
                last_seen=at,
                raw=e,
            )
        )
    CatalogModel.objects.bulk_create(models)
    ids = dict(CatalogModel.objects.values_list("model_id", "pk"))
    versions = []
    for e in entries:
        pricing = {k: v for k, v in e["pricing"].items() if k in PRICE_FIELDS or k == "overrides"}
        versions.append(PriceVersion(catalog_model_id=ids[e["id"]], valid_from=at, **_prices(pricing)))
    PriceVersion.objects.bulk_create(versions)
    return len(models)


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
    """A real snapshot into the catalogue: through catalog_sync when it exists, else load_snapshot."""
    try:
        from catalog.services import catalog_sync
    except ImportError:
        load_snapshot(name, at=at)
        return
    raw = json.loads((DATA / name).read_text())
    payload = raw if isinstance(raw, dict) else {"data": raw}
    catalog_sync(payload=payload, source=name, now=at)
