"""Fetch provider endpoints: of one model (--model), or of every model with traffic in the last 7 days."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.services.provider_endpoints import EndpointsError, catalog_fetch_endpoints
from usage.services.traffic_endpoints import TRAFFIC_DAYS, provider_endpoints_sync_recent


class Command(BaseCommand):
    help = (
        f"GET /models/{{author}}/{{slug}}/endpoints for models with traffic in the last {TRAFFIC_DAYS} days."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="Only this model id, e.g. openai/gpt-4o (traffic or not).")

    def handle(self, *args, model=None, **options):
        if model:
            try:
                endpoints = catalog_fetch_endpoints(model_id=model)
            except EndpointsError as exc:
                raise CommandError(f"endpoints of {model} failed: {exc}") from None
            self.stdout.write(f"endpoints ok: models=1 endpoints={len(endpoints)} failed=0")
            return
        result = provider_endpoints_sync_recent()
        for model_id, problem in result.failed.items():
            self.stderr.write(f"{model_id}: {problem}")
        summary = f"models={result.fetched} endpoints={result.endpoints} failed={len(result.failed)}"
        if result.failed and not result.fetched:
            raise CommandError(f"endpoints failed: {summary}")
        self.stdout.write(f"endpoints ok: {summary}")
