"""Roll up every final hour of the ledger not rolled up yet (what the Celery task runs on its schedule)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from usage.management.arguments import moment
from usage.services.rollups import rollup_catch_up


class Command(BaseCommand):
    help = "Roll up the ledger into hourly rollups (idempotent; catches up after downtime)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="Also rebuild the hours from this date or time on (e.g. after replaying rows)."
        )

    def handle(self, *args, since=None, **options):
        result = rollup_catch_up(since=moment(since, option="--since") if since else None)
        until = result.complete_until.isoformat() if result.complete_until else "-"
        self.stdout.write(f"rollup ok: hours={result.hours} rows={result.rows} complete_until={until}")
