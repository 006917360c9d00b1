"""Writes to the catalogue: apply a Models API listing (from the API, a file or the bundled seed).

`catalog_sync` validates the whole payload first, works out what it would change, holds it when that fails a
sanity check (catalog.services.sync_checks), else applies it in one transaction with a fixed number of bulk
queries, under a lease (catalog.services.sync_lock) so two syncs never overlap. Every attempt is a SyncRun,
failed and held ones included; a failed or held sync changes nothing else.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import CatalogModel, PriceVersion, SyncRun
from catalog.payload import Entry, PayloadError, parse_payload, price_display, price_signature
from catalog.services.sync_checks import Repricing, hold_reason, sync_limits
from catalog.services.sync_lock import MAX_PARAMS, SyncBusy, catalog_sync_lock, whole_batches

logger = logging.getLogger(__name__)

SEED_PATH = Path(__file__).resolve().parent.parent / "seed" / "models-2026-08-19.json.gz"
# CatalogModel columns a sync rewrites when a listing entry changed.
MODEL_UPDATE_FIELDS = (
    "canonical_slug",
    "hugging_face_id",
    "name",
    "author",
    "description",
    "context_length",
    "modality",
    "input_modalities",
    "output_modalities",
    "tokenizer",
    "instruct_type",
    "supported_parameters",
    "default_parameters",
    "top_provider",
    "max_completion_tokens",
    "per_request_limits",
    "created",
    "expiration_date",
    "knowledge_cutoff",
    "raw",
    "listing_hash",
    "retired_at",
    "last_seen",
    "updated_at",
)


class HeldRunGone(LookupError):
    """The run to apply anyway is not a held run with its listing (or was applied already)."""


@dataclass
class _Plan:
    """What a sync would write, worked out before anything is."""

    new_models: list[CatalogModel] = field(default_factory=list)
    changed_models: list[CatalogModel] = field(default_factory=list)
    new_versions: list[tuple[CatalogModel, Entry, datetime]] = field(default_factory=list)  # valid_from last
    closing: list[int] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    repriced: list[dict] = field(default_factory=list)
    repricings: list[Repricing] = field(default_factory=list)
    retiring: list[CatalogModel] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    unchanged: int = 0
    current: int = 0  # OpenRouter models current before the sync
    compared: int = 0  # listed models already known (not manual)


def catalog_sync(
    *, payload: bytes | str | dict | list, source: str, now: datetime | None = None, force: bool = False
) -> SyncRun:
    """Apply a Models API listing; returns its SyncRun: ok, failed (the reason in `error`), or held (a sanity
    check failed, catalog.services.sync_checks: the reason in `error`, the listing kept compressed, nothing
    applied). force=True skips the sanity checks.

    Unexpected errors (database down...) are recorded on the run too, then raised.
    """
    now = now or timezone.now()
    clock = time.monotonic()
    run = SyncRun.objects.create(source=source[:500], started_at=now)
    try:
        entries = parse_payload(payload)
        holder = f"sync run {run.pk} ({socket.gethostname()}:{os.getpid()})"
        with catalog_sync_lock(holder=holder), transaction.atomic(), whole_batches():
            plan = _plan(entries, now)
            reason = None if force else _hold_reason(plan)
            if reason is None:
                _write(plan, now)
    except (PayloadError, SyncBusy) as exc:
        return _finish_failed(run, str(exc), clock)
    except Exception as exc:
        _finish_failed(run, f"unexpected error: {type(exc).__name__}: {exc}", clock)
        raise
    run.status = SyncRun.Status.OK if reason is None else SyncRun.Status.HELD
    run.finished_at = now + timedelta(seconds=time.monotonic() - clock)
    # A held run's counts and changes are what it would have done.
    run.models_count = len(entries)
    run.added = len(plan.added)
    run.repriced = len(plan.repriced)
    run.retired = len(plan.retiring)
    run.unchanged = plan.unchanged
    run.changes = {
        "added": plan.added,
        "repriced": plan.repriced,
        "retired": sorted(m.model_id for m in plan.retiring),
        "returned": plan.returned,
    }
    if reason is not None:
        run.error = reason
        run.listing = zlib.compress(_listing_bytes(payload))
        run.save()
        logger.warning("catalogue sync from %s held: %s", source, reason)
        return run
    run.save()
    logger.info("catalogue sync from %s: %s", source, sync_summary(run))
    return run


def _hold_reason(plan: _Plan) -> str | None:
    return hold_reason(
        current=plan.current,
        retiring=len(plan.retiring),
        priced=[entry for _, entry, _ in plan.new_versions],
        compared=plan.compared,
        repricings=plan.repricings,
        limits=sync_limits(),
    )


def _listing_bytes(payload: bytes | str | dict | list) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, ensure_ascii=False, default=str).encode()


def catalog_sync_apply_held(*, run_id: int, now: datetime | None = None) -> SyncRun:
    """Apply a held run's stored listing without the sanity checks; returns the new run that applied it.

    Once applied, the held run drops its listing and its reason says which run applied it. HeldRunGone when
    the run is not held or has no listing left.
    """
    held = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.HELD, listing__isnull=False).first()
    if held is None:
        raise HeldRunGone(f"sync run {run_id} is not a held run with its listing (applied already?)")
    body = zlib.decompress(bytes(held.listing))
    source = f"held run {held.pk} applied anyway: {held.source}"
    run = catalog_sync(payload=body, source=source, now=now, force=True)
    if run.status == SyncRun.Status.OK:
        note = f"{held.error} (applied anyway by run {run.pk})"
        SyncRun.objects.filter(pk=held.pk).update(listing=None, error=note)
    return run


def _finish_failed(run: SyncRun, error: str, clock: float) -> SyncRun:
    run.status = SyncRun.Status.FAILED
    run.error = error
    run.finished_at = run.started_at + timedelta(seconds=time.monotonic() - clock)
    run.save(update_fields=["status", "error", "finished_at"])
    logger.warning("catalogue sync from %s failed: %s", run.source, error)
    return run


def sync_summary(run: SyncRun) -> str:
    """The one line a sync ends with (command output, logs)."""
    if run.status == SyncRun.Status.HELD:
        return f"sync held: {run.error}"
    if run.status != SyncRun.Status.OK:
        return f"sync failed: {run.error}"
    return (
        f"sync ok: models={run.models_count} added={run.added} repriced={run.repriced} "
        f"retired={run.retired} unchanged={run.unchanged}"
    )


def _version(model_pk: int, entry: Entry, valid_from: datetime) -> PriceVersion:
    return PriceVersion(
        catalog_model_id=model_pk,
        valid_from=valid_from,
        discount=entry.discount,
        extra=entry.extra,
        overrides=entry.overrides,
        **entry.prices,
    )


def _stored_signature(version: PriceVersion) -> tuple:
    return price_signature(
        prices=version.prices(), extra=version.extra, discount=version.discount, overrides=version.overrides
    )


def _batch(model) -> int:
    """Rows per INSERT so one query stays under MAX_PARAMS (one query up to ~1 800 models)."""
    return max(1, MAX_PARAMS // len(model._meta.concrete_fields))


def _plan(entries: list[Entry], now: datetime) -> _Plan:
    """What a sync of these entries would write (two queries, no writes)."""
    wall = timezone.now()
    loaded = list(
        CatalogModel.objects.only("pk", "model_id", "listing_hash", "retired_at", "first_seen", "source")
    )
    # Manual models (other upstreams) are never updated, repriced or retired by a sync; a listed id that is
    # one is skipped and counted as unchanged.
    manual = {m.model_id for m in loaded if m.source == CatalogModel.Source.MANUAL}
    known = {m.model_id: m for m in loaded if m.source != CatalogModel.Source.MANUAL}
    skipped = [e.model_id for e in entries if e.model_id in manual]
    if skipped:
        logger.warning("catalogue sync: skipped listed ids that are manual models: %s", ", ".join(skipped))
    # Open versions only of the models whose listing changed (or that come back): none on a quiet re-sync.
    candidates = [
        known[e.model_id].pk
        for e in entries
        if e.model_id in known
        and (known[e.model_id].listing_hash != e.listing_hash or known[e.model_id].retired_at is not None)
    ]
    open_versions = (
        {
            v.catalog_model_id: v
            for v in PriceVersion.objects.filter(valid_to__isnull=True, catalog_model_id__in=candidates)
        }
        if candidates
        else {}
    )

    plan = _Plan()
    for entry in entries:
        if entry.model_id in manual:
            plan.unchanged += 1
            continue
        model = known.get(entry.model_id)
        if model is None:
            model = CatalogModel(
                model_id=entry.model_id,
                first_seen=now,
                last_seen=now,
                listing_hash=entry.listing_hash,
                **entry.fields,
            )
            plan.new_models.append(model)
            # A model's first prices hold from its publication (OpenRouter's `created`), not from this sync.
            created = entry.fields.get("created")
            plan.new_versions.append((model, entry, min(created, now) if created else now))
            plan.added.append(entry.model_id)
            continue
        plan.compared += 1
        was_retired = model.retired_at is not None
        if was_retired:
            plan.returned.append(entry.model_id)
        if model.listing_hash == entry.listing_hash and not was_retired:
            plan.unchanged += 1
            continue
        version = open_versions.get(model.pk)
        if model.listing_hash != entry.listing_hash or was_retired:
            for name, value in entry.fields.items():
                setattr(model, name, value)
            model.listing_hash = entry.listing_hash
            model.retired_at = None
            model.last_seen = now
            model.updated_at = wall
            plan.changed_models.append(model)
        old = _stored_signature(version) if version is not None else None
        if old == entry.signature:
            plan.unchanged += 1
            continue
        if version is not None:
            if version.valid_from >= now:
                raise PayloadError(
                    f"model {entry.model_id!r} has prices from {version.valid_from:%Y-%m-%d %H:%M:%S}, "
                    "not before this sync: is the clock right?"
                )
            plan.closing.append(version.pk)
            plan.repricings.append(
                Repricing(
                    model_id=entry.model_id,
                    old={**version.extra, **version.prices()},
                    new={**entry.extra, **entry.prices},
                )
            )
        plan.new_versions.append((model, entry, now))
        plan.repriced.append(
            {
                "model_id": entry.model_id,
                "old": price_display(prices=version.prices(), extra=version.extra, discount=version.discount)
                if version is not None
                else {},
                "new": price_display(prices=entry.prices, extra=entry.extra, discount=entry.discount),
            }
        )

    seen = {entry.model_id for entry in entries}
    current = [m for m in known.values() if m.retired_at is None]
    plan.current = len(current)
    plan.retiring = [m for m in current if m.model_id not in seen]
    return plan


def _write(plan: _Plan, now: datetime) -> None:
    """The writes of one sync: a fixed number of queries whatever the number of models."""
    wall = timezone.now()
    if plan.new_models:
        CatalogModel.objects.bulk_create(plan.new_models, batch_size=_batch(CatalogModel))
    if plan.changed_models:
        batch = max(1, MAX_PARAMS // (3 * len(MODEL_UPDATE_FIELDS)))
        CatalogModel.objects.bulk_update(plan.changed_models, MODEL_UPDATE_FIELDS, batch_size=batch)
    if plan.retiring:
        CatalogModel.objects.filter(pk__in=[m.pk for m in plan.retiring]).update(
            retired_at=now, updated_at=wall
        )
    # Every OpenRouter model still current is one of this listing (the rest were just retired).
    CatalogModel.objects.filter(retired_at__isnull=True, source=CatalogModel.Source.OPENROUTER).update(
        last_seen=now
    )
    if plan.closing:
        PriceVersion.objects.filter(pk__in=plan.closing).update(valid_to=now)
    if plan.new_versions:
        PriceVersion.objects.bulk_create(
            [_version(model.pk, entry, valid_from) for model, entry, valid_from in plan.new_versions],
            batch_size=_batch(PriceVersion),
        )


def _failed_run(*, source: str, error: str, now: datetime | None = None) -> SyncRun:
    now = now or timezone.now()
    run = SyncRun.objects.create(
        source=source[:500], started_at=now, finished_at=now, status=SyncRun.Status.FAILED, error=error
    )
    logger.warning("catalogue sync from %s failed: %s", source, error)
    return run


def catalog_fetch_and_sync(
    *, url: str | None = None, now: datetime | None = None, transport=None, force: bool = False
) -> SyncRun:
    """Fetch the Models API (OPENROUTER_BASE_URL/models by default) and apply it. A fetch that fails after
    its retries is a failed SyncRun, like a bad payload."""
    from catalog.fetch import FetchError, fetch_models  # httpx loads only when a sync fetches

    url = url or f"{settings.OPENROUTER_BASE_URL}/models"
    try:
        body = fetch_models(url=url, transport=transport)
    except FetchError as exc:
        return _failed_run(source=url, error=str(exc), now=now)
    return catalog_sync(payload=body, source=url, now=now, force=force)


def read_listing_file(path: str | Path) -> bytes:
    """A listing file's bytes (gunzipped when it ends in .gz); FileNotFoundError / OSError as they come."""
    path = Path(path)
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise PayloadError(f"{path.name} is not a readable gzip file ({exc})") from None
    return raw


def catalog_sync_file(
    *, path: str | Path, now: datetime | None = None, source: str = "", force: bool = False
) -> SyncRun:
    """Apply a listing saved in a file (either shape; .gz too). An unreadable file is a failed SyncRun."""
    source = source or str(Path(path).resolve())
    try:
        body = read_listing_file(path)
    except OSError as exc:
        return _failed_run(source=source, error=f"cannot read {path}: {exc.strerror or exc}", now=now)
    except PayloadError as exc:
        return _failed_run(source=source, error=str(exc), now=now)
    return catalog_sync(payload=body, source=source, now=now, force=force)


def catalog_load_seed(*, now: datetime | None = None, force: bool = False) -> SyncRun:
    """Apply the snapshot bundled with the package (no internet needed)."""
    source = f"bundled snapshot {SEED_PATH.name}"
    return catalog_sync_file(path=SEED_PATH, now=now, source=source, force=force)
