"""Delete raw ledger rows older than LEDGER_RETENTION_DAYS (rolled-up hours only; rollups stay)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from usage.services.rollups import ledger_prune


class Command(BaseCommand):
    help = "Delete raw ledger rows older than the retention (LEDGER_RETENTION_DAYS; 0 keeps all), in batches."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="Override LEDGER_RETENTION_DAYS for this run.")

    def handle(self, *args, days=None, **options):
        if days is not None and days < 0:
            raise CommandError(f"--days must be 0 or more; got {days}")
        result = ledger_prune(days=days)
        if result.cutoff is None:
            kept = days if days is not None else settings.LEDGER_RETENTION_DAYS
            reason = "LEDGER_RETENTION_DAYS=0 keeps every row" if not kept else "nothing is rolled up yet"
            self.stdout.write(f"prune ok: deleted=0 ({reason})")
            return
        self.stdout.write(f"prune ok: deleted={result.deleted} older_than={result.cutoff.isoformat()}")
