"""Writes to the catalogue: apply a Models API listing (from the API, a file or the bundled seed).

`catalog_sync` validates the whole payload first, then applies it in one transaction with a fixed number of
bulk queries, under a lease (SyncLock) so two syncs never overlap. Every attempt is a SyncRun, failed ones
included; a failed sync changes nothing else.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import CatalogModel, PriceVersion, SyncLock, SyncRun
from catalog.payload import Entry, PayloadError, parse_payload, price_display, price_signature

logger = logging.getLogger(__name__)

SEED_PATH = Path(__file__).resolve().parent.parent / "seed" / "models-2026-08-19.json.gz"
LOCK_NAME = "catalog_sync"
LOCK_LEASE = timedelta(minutes=15)  # a crashed sync blocks the next ones for this long at most
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
# PostgreSQL takes at most 65535 parameters a query: bulk updates stay well below.
MAX_PARAMS = 60_000


class SyncBusy(RuntimeError):
    """Another catalogue sync holds the lock."""


@dataclass
class _Applied:
    added: list[str]
    repriced: list[dict]
    retired: list[str]
    returned: list[str]
    unchanged: int


@contextlib.contextmanager
def catalog_sync_lock(*, holder: str = "") -> Iterator[None]:
    """Hold the catalogue sync lease, or raise SyncBusy at once. Works across processes and databases:
    one conditional UPDATE takes it (PostgreSQL row lock / SQLite write lock make it atomic)."""
    holder = (holder or f"{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns()}")[:200]
    wall = timezone.now()
    SyncLock.objects.bulk_create([SyncLock(name=LOCK_NAME)], ignore_conflicts=True)
    taken = SyncLock.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=wall), name=LOCK_NAME
    ).update(holder=holder, locked_until=wall + LOCK_LEASE)
    if not taken:
        lock = SyncLock.objects.filter(name=LOCK_NAME).first()
        since = f" (held by {lock.holder} until {lock.locked_until:%Y-%m-%d %H:%M:%S} UTC)" if lock else ""
        raise SyncBusy(f"another catalogue sync is running{since}")
    try:
        yield
    finally:
        SyncLock.objects.filter(name=LOCK_NAME, holder=holder).update(holder="", locked_until=None)


@contextlib.contextmanager
def _whole_batches() -> Iterator[None]:
    """Let SQLite bulk queries use the real variable limit of the library (250 000 on Debian), not Django
    5.2's fixed 999, so a sync is a fixed number of queries (Django 6.0 reads the limit the same way)."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    features = connection.features
    before = features.__dict__.get("max_query_params")
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    features.max_query_params = max(999, min(limit, MAX_PARAMS))
    try:
        yield
    finally:
        if before is None:
            del features.max_query_params
        else:
            features.max_query_params = before


def catalog_sync(*, payload: bytes | str | dict | list, source: str, now: datetime | None = None) -> SyncRun:
    """Apply a Models API listing; returns its SyncRun (status ok, or failed with the reason in `error`).

    Unexpected errors (database down...) are recorded on the run too, then raised.
    """
    now = now or timezone.now()
    clock = time.monotonic()
    run = SyncRun.objects.create(source=source[:500], started_at=now)
    try:
        entries = parse_payload(payload)
        holder = f"sync run {run.pk} ({socket.gethostname()}:{os.getpid()})"
        with catalog_sync_lock(holder=holder), transaction.atomic(), _whole_batches():
            applied = _apply(entries, now)
    except (PayloadError, SyncBusy) as exc:
        return _finish_failed(run, str(exc), clock)
    except Exception as exc:
        _finish_failed(run, f"unexpected error: {type(exc).__name__}: {exc}", clock)
        raise
    run.status = SyncRun.Status.OK
    run.finished_at = now + timedelta(seconds=time.monotonic() - clock)
    run.models_count = len(entries)
    run.added = len(applied.added)
    run.repriced = len(applied.repriced)
    run.retired = len(applied.retired)
    run.unchanged = applied.unchanged
    run.changes = {
        "added": applied.added,
        "repriced": applied.repriced,
        "retired": applied.retired,
        "returned": applied.returned,
    }
    run.save()
    logger.info("catalogue sync from %s: %s", source, sync_summary(run))
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
    if run.status != SyncRun.Status.OK:
        return f"sync failed: {run.error}"
    return (
        f"sync ok: models={run.models_count} added={run.added} repriced={run.repriced} "
        f"retired={run.retired} unchanged={run.unchanged}"
    )


def _version(model_pk: int, entry: Entry, now: datetime) -> PriceVersion:
    return PriceVersion(
        catalog_model_id=model_pk,
        valid_from=now,
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


def _apply(entries: list[Entry], now: datetime) -> _Applied:
    """The writes of one sync: a fixed number of queries whatever the number of models."""
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

    new_models: list[CatalogModel] = []
    changed_models: list[CatalogModel] = []
    new_version_entries: list[tuple[CatalogModel, Entry]] = []
    closing: list[int] = []
    added: list[str] = []
    repriced: list[dict] = []
    returned: list[str] = []
    unchanged = 0
    for entry in entries:
        if entry.model_id in manual:
            unchanged += 1
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
            new_models.append(model)
            new_version_entries.append((model, entry))
            added.append(entry.model_id)
            continue
        was_retired = model.retired_at is not None
        if was_retired:
            returned.append(entry.model_id)
        if model.listing_hash == entry.listing_hash and not was_retired:
            unchanged += 1
            continue
        version = open_versions.get(model.pk)
        if model.listing_hash != entry.listing_hash or was_retired:
            for name, value in entry.fields.items():
                setattr(model, name, value)
            model.listing_hash = entry.listing_hash
            model.retired_at = None
            model.last_seen = now
            model.updated_at = wall
            changed_models.append(model)
        old = _stored_signature(version) if version is not None else None
        if old == entry.signature:
            unchanged += 1
            continue
        if version is not None:
            if version.valid_from >= now:
                raise PayloadError(
                    f"model {entry.model_id!r} has prices from {version.valid_from:%Y-%m-%d %H:%M:%S}, "
                    "not before this sync: is the clock right?"
                )
            closing.append(version.pk)
        new_version_entries.append((model, entry))
        repriced.append(
            {
                "model_id": entry.model_id,
                "old": price_display(prices=version.prices(), extra=version.extra, discount=version.discount)
                if version is not None
                else {},
                "new": price_display(prices=entry.prices, extra=entry.extra, discount=entry.discount),
            }
        )

    seen = {entry.model_id for entry in entries}
    retiring = [m for m in known.values() if m.retired_at is None and m.model_id not in seen]

    if new_models:
        CatalogModel.objects.bulk_create(new_models, batch_size=_batch(CatalogModel))
    if changed_models:
        batch = max(1, MAX_PARAMS // (3 * len(MODEL_UPDATE_FIELDS)))
        CatalogModel.objects.bulk_update(changed_models, MODEL_UPDATE_FIELDS, batch_size=batch)
    if retiring:
        CatalogModel.objects.filter(pk__in=[m.pk for m in retiring]).update(retired_at=now, updated_at=wall)
    # Every OpenRouter model still current is one of this listing (the rest were just retired).
    CatalogModel.objects.filter(retired_at__isnull=True, source=CatalogModel.Source.OPENROUTER).update(
        last_seen=now
    )
    if closing:
        PriceVersion.objects.filter(pk__in=closing).update(valid_to=now)
    if new_version_entries:
        PriceVersion.objects.bulk_create(
            [_version(model.pk, entry, now) for model, entry in new_version_entries],
            batch_size=_batch(PriceVersion),
        )
    return _Applied(
        added=added,
        repriced=repriced,
        retired=sorted(m.model_id for m in retiring),
        returned=returned,
        unchanged=unchanged,
    )


def _failed_run(*, source: str, error: str, now: datetime | None = None) -> SyncRun:
    now = now or timezone.now()
    run = SyncRun.objects.create(
        source=source[:500], started_at=now, finished_at=now, status=SyncRun.Status.FAILED, error=error
    )
    logger.warning("catalogue sync from %s failed: %s", source, error)
    return run


def catalog_fetch_and_sync(*, url: str | None = None, now: datetime | None = None, transport=None) -> SyncRun:
    """Fetch the Models API (OPENROUTER_BASE_URL/models by default) and apply it. A fetch that fails after
    its retries is a failed SyncRun, like a bad payload."""
    from catalog.fetch import FetchError, fetch_models  # httpx loads only when a sync fetches

    url = url or f"{settings.OPENROUTER_BASE_URL}/models"
    try:
        body = fetch_models(url=url, transport=transport)
    except FetchError as exc:
        return _failed_run(source=url, error=str(exc), now=now)
    return catalog_sync(payload=body, source=url, now=now)


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


def catalog_sync_file(*, path: str | Path, now: datetime | None = None, source: str = "") -> SyncRun:
    """Apply a listing saved in a file (either shape; .gz too). An unreadable file is a failed SyncRun."""
    source = source or str(Path(path).resolve())
    try:
        body = read_listing_file(path)
    except OSError as exc:
        return _failed_run(source=source, error=f"cannot read {path}: {exc.strerror or exc}", now=now)
    except PayloadError as exc:
        return _failed_run(source=source, error=str(exc), now=now)
    return catalog_sync(payload=body, source=source, now=now)


def catalog_load_seed(*, now: datetime | None = None) -> SyncRun:
    """Apply the snapshot bundled with the package (no internet needed)."""
    return catalog_sync_file(path=SEED_PATH, now=now, source=f"bundled snapshot {SEED_PATH.name}")
