"""Reconcile the ledger's estimated costs with OpenRouter's generation stats (what the Celery task runs on
its schedule)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from usage.services.reconcile import ledger_reconcile


class Command(BaseCommand):
    help = (
        "Replace the estimated costs of cancelled or broken requests with what OpenRouter billed "
        "(GET /generation), retrying rows whose stats are not ready; idempotent."
    )

    def handle(self, *args, **options):
        result = ledger_reconcile()
        self.stdout.write(
            f"reconcile ok: reconciled={result.reconciled} unreconciled={result.unreconciled} "
            f"waiting={result.waiting} rollup_hours={result.hours}"
        )
