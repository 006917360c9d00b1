"""Fill a demo database with realistic gateway traffic and roll it up: the dashboard then has data to show."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from usage.services.demo_traffic import (
    NoCatalogue,
    demo_keys,
    demo_models,
    demo_rows,
    demo_window,
    ledger_rows_insert,
)
from usage.services.rollups import rollup_catch_up

MAX_REQUESTS = 10_000_000
MAX_DAYS = 3660


class Command(BaseCommand):
    help = (
        "Add N demo requests over the last D days (several keys and catalogue models, cache and reasoning "
        "tokens, some errors) to the ledger, then roll them up. Needs a synced catalogue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, required=True, help=f"How many (1..{MAX_REQUESTS}).")
        parser.add_argument(
            "--days", type=int, default=30, help=f"Spread over this many days (1..{MAX_DAYS})."
        )
        parser.add_argument("--seed", type=int, default=7, help="Random seed (same seed, same traffic).")

    def handle(self, *args, requests: int, days: int, seed: int, **options):
        if not 1 <= requests <= MAX_REQUESTS:
            raise CommandError(f"--requests must be between 1 and {MAX_REQUESTS}; got {requests}")
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}; got {days}")
        try:
            models = demo_models()
        except NoCatalogue as exc:
            raise CommandError(str(exc)) from None
        keys = demo_keys()
        start, end = demo_window(days=days, now=timezone.now())
        inserted = ledger_rows_insert(
            demo_rows(keys=keys, models=models, count=requests, start=start, end=end, seed=seed)
        )
        rollup = rollup_catch_up(since=start)
        self.stdout.write(
            f"seeded: requests={inserted} keys={len(keys)} models={len(models)} days={days} "
            f"rollup_hours={rollup.hours}"
        )
