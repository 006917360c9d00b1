"""Probe every enabled upstream once (what the Celery task runs on UPSTREAM_PROBE_SCHEDULE)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from usage.services.upstreams import upstream_probe_all


class Command(BaseCommand):
    help = "GET <base_url>/models of each enabled upstream and record the result (keeps UPSTREAM_PROBE_KEEP)."

    def handle(self, *args, **options):
        probes = upstream_probe_all()
        for probe in probes:
            state = f"up {probe.latency_ms} ms" if probe.ok else f"down ({probe.error})"
            self.stdout.write(f"{probe.upstream.name}: {state}")
        self.stdout.write(f"probe ok: upstreams={len(probes)} down={sum(not p.ok for p in probes)}")
