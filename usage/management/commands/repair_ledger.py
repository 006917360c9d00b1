"""Set aside bad usage values stored in the ledger (usage/services/ledger_repair.py) and rebuild the rollups
they touched. Migration 0014 ran the same repair once; this is for rows written by other means since."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from usage.services.ledger_repair import ledger_repair


class Command(BaseCommand):
    help = "Repair ledger rows with impossible costs or token counts, and rebuild their rollups."

    def handle(self, *args, **options):
        result = ledger_repair()
        since = result.since.isoformat() if result.since else "-"
        self.stdout.write(f"repair ok: rows={result.rows} since={since} rollup_hours={result.hours}")
