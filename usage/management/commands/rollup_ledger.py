"""Roll up every final hour of the ledger not rolled up yet (what the Celery task runs on its schedule)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.core.management.base import BaseCommand, CommandError

from usage.services.rollups import rollup_catch_up


def parse_since(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        except ValueError:
            raise CommandError(
                f"--since must be a date or an ISO time (2026-11-30T09:00Z); got {raw!r}"
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Roll up the ledger into hourly rollups (idempotent; catches up after downtime)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="Also rebuild the hours from this date or time on (e.g. after replaying rows)."
        )

    def handle(self, *args, since=None, **options):
        result = rollup_catch_up(since=parse_since(since) if since else None)
        until = result.complete_until.isoformat() if result.complete_until else "-"
        self.stdout.write(f"rollup ok: hours={result.hours} rows={result.rows} complete_until={until}")
