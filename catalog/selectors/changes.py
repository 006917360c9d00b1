"""Catalogue changes that touch given models: the home page's "repriced or retired" list of the models one
uses (the models come from the caller: the catalogue knows nothing of traffic)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from catalog.models import SyncRun


@dataclass(frozen=True, slots=True)
class ModelChange:
    model_id: str
    kind: str  # "repriced" or "retired"
    at: datetime  # when the sync that saw it started
    run_id: int


def changes_touching(*, model_ids: Iterable[str], since: datetime, limit: int = 10) -> list[ModelChange]:
    """Repricings and retirements of `model_ids` seen by syncs since `since`, newest first."""
    wanted = set(model_ids)
    if not wanted:
        return []
    runs = (
        SyncRun.objects.filter(status=SyncRun.Status.OK, started_at__gte=since)
        .exclude(repriced=0, retired=0)
        .order_by("-started_at", "-pk")
        .values_list("pk", "started_at", "changes")
    )
    found = []
    for run_id, started_at, changes in runs:
        changes = changes or {}
        for entry in changes.get("repriced", []):
            model_id = entry.get("model_id") if isinstance(entry, dict) else entry
            if model_id in wanted:
                found.append(ModelChange(model_id, "repriced", started_at, run_id))
        for model_id in changes.get("retired", []):
            if model_id in wanted:
                found.append(ModelChange(model_id, "retired", started_at, run_id))
        if len(found) >= limit:
            break
    return found[:limit]
