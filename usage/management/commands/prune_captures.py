"""Delete captured request and reply bodies older than CAPTURE_RETENTION_DAYS (their ledger rows stay)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from usage.services.captures import captures_prune


class Command(BaseCommand):
    help = "Delete captured request and reply bodies older than the retention (CAPTURE_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="Override CAPTURE_RETENTION_DAYS for this run.")

    def handle(self, *args, days=None, **options):
        if days is not None and days < 1:
            raise CommandError(f"--days must be 1 or more; got {days}")
        result = captures_prune(days=days)
        cutoff = result.cutoff.isoformat()
        self.stdout.write(f"prune captures ok: deleted={result.deleted} older_than={cutoff}")
