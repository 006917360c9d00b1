"""Celery tasks for the ledger rollups, retention and cost reconciliation (schedules: ROLLUP_SCHEDULE,
RETENTION_SCHEDULE, RECONCILE_SCHEDULE).

Each is also a management command (`rollup_ledger`, `prune_ledger`, `reconcile_ledger`) and is idempotent,
so a missed or doubled run does no harm; `expires` drops runs that waited in the queue past their next turn.
"""

from __future__ import annotations

from celery import shared_task

ROLLUP_EXPIRES_SECONDS = 4 * 60  # the default schedule runs every 5 minutes
RETENTION_EXPIRES_SECONDS = 6 * 60 * 60  # the default schedule runs daily


@shared_task(name="usage.rollup_ledger", ignore_result=True, expires=ROLLUP_EXPIRES_SECONDS)
def rollup_ledger() -> int:
    from usage.services.rollups import rollup_catch_up

    return rollup_catch_up().hours


@shared_task(name="usage.prune_ledger", ignore_result=True, expires=RETENTION_EXPIRES_SECONDS)
def prune_ledger() -> int:
    from usage.services.rollups import ledger_prune

    return ledger_prune().deleted


RECONCILE_EXPIRES_SECONDS = 50  # the default RECONCILE_SCHEDULE runs every minute


@shared_task(name="usage.reconcile_ledger", ignore_result=True, expires=RECONCILE_EXPIRES_SECONDS)
def reconcile_ledger() -> int:
    from usage.services.reconcile import ledger_reconcile

    return ledger_reconcile().reconciled


# --- Upstream health and provider endpoints (docs/routing.md) ---
PROBE_EXPIRES_SECONDS = 4 * 60  # the default UPSTREAM_PROBE_SCHEDULE runs every 5 minutes
PROVIDER_ENDPOINTS_EXPIRES_SECONDS = 5 * 60 * 60  # the default PROVIDER_ENDPOINTS_SCHEDULE runs every 6 hours


@shared_task(name="usage.probe_upstreams", ignore_result=True, expires=PROBE_EXPIRES_SECONDS)
def probe_upstreams() -> int:
    from usage.services.upstreams import upstream_probe_all

    return len(upstream_probe_all())


@shared_task(
    name="usage.sync_provider_endpoints", ignore_result=True, expires=PROVIDER_ENDPOINTS_EXPIRES_SECONDS
)
def sync_provider_endpoints() -> int:
    from usage.services.traffic_endpoints import provider_endpoints_sync_recent

    return provider_endpoints_sync_recent().fetched


# --- Alerts (docs/alerts.md) ---
ALERTS_EXPIRES_SECONDS = 50  # the default ALERTS_SCHEDULE runs every minute


@shared_task(name="usage.evaluate_alerts", ignore_result=True, expires=ALERTS_EXPIRES_SECONDS)
def evaluate_alerts() -> int:
    from usage.services.alerts.delivery import deliveries_send
    from usage.services.alerts.evaluate import alerts_evaluate

    result = alerts_evaluate()
    deliveries_send()
    return len(result.alert_ids)


# --- Captured bodies (docs/gateway.md, "Capture") ---
CAPTURE_PRUNE_EXPIRES_SECONDS = 6 * 60 * 60  # the default CAPTURE_PRUNE_SCHEDULE runs daily


@shared_task(name="usage.prune_captures", ignore_result=True, expires=CAPTURE_PRUNE_EXPIRES_SECONDS)
def prune_captures() -> int:
    from usage.services.captures import captures_prune

    return captures_prune().deleted
