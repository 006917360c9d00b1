"""`manage.py sync_catalog [--from-file PATH | --url URL | --seed] [--force]`: apply a Models API listing now.

Ends with exactly one line: `sync ok: models=<N> added=<a> repriced=<r> retired=<t> unchanged=<u>`, or
`sync failed: <reason>` / `sync held: <reason>` (on stderr) and exit status 1. --force skips the sanity checks
that hold a sync. Progress lines only when stdout is a terminal.
"""

from __future__ import annotations

import contextlib
import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.models import SyncRun
from catalog.services.sync import (
    SEED_PATH,
    catalog_fetch_and_sync,
    catalog_load_seed,
    catalog_sync_file,
    sync_summary,
)


@contextlib.contextmanager
def quiet_service_log():
    """The command prints its own summary: the service's (and httpx's) log lines would say it twice."""
    loggers = [logging.getLogger(name) for name in ("catalog.services", "httpx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class Command(BaseCommand):
    requires_system_checks = []  # a sync needs no API key; keep the output to the lines below
    help = "Sync the catalogue from OpenRouter's Models API (default), a saved listing, or the bundled seed."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--from-file", metavar="PATH", help='a listing file: {"data": [...]} or a bare array'
        )
        source.add_argument("--url", help="a Models API URL (default: OPENROUTER_BASE_URL/models)")
        source.add_argument("--seed", action="store_true", help=f"the bundled snapshot ({SEED_PATH.name})")
        parser.add_argument(
            "--force",
            action="store_true",
            help="apply even what the sanity checks would hold (mass retirement, absurd prices or rises)",
        )

    def progress(self, text: str) -> None:
        if self.stdout.isatty():
            self.stdout.write(text)

    def handle(self, *args, from_file=None, url=None, seed=False, force=False, **options):
        with quiet_service_log():
            return self.sync(from_file=from_file, url=url, seed=seed, force=force)

    def sync(self, *, from_file: str | None, url: str | None, seed: bool, force: bool) -> None:
        try:
            if seed:
                self.progress(f"loading the bundled snapshot {SEED_PATH.name}...")
                run = catalog_load_seed(force=force)
            elif from_file:
                self.progress(f"loading {from_file}...")
                run = catalog_sync_file(path=from_file, force=force)
            else:
                self.progress(f"fetching {url or settings.OPENROUTER_BASE_URL + '/models'}...")
                run = catalog_fetch_and_sync(url=url, force=force)
        except Exception as exc:  # recorded on the SyncRun by the service; one line for the person
            return self.fail(f"unexpected error: {type(exc).__name__}: {exc}")
        if run.status == SyncRun.Status.HELD:
            return self.fail(run.error, outcome="held")
        if run.status != SyncRun.Status.OK:
            return self.fail(run.error)
        self.stdout.write(sync_summary(run))
        return None

    def fail(self, reason: str, *, outcome: str = "failed") -> None:
        line = f"sync {outcome}: {' '.join(reason.split())}"
        if getattr(self, "_called_from_command_line", False):
            self.stderr.write(line)
            sys.exit(1)
        raise CommandError(line)
