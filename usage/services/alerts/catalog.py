"""Catalogue-change alerts, evaluated when a sync ends: `catalog` imports nothing from `usage`, so usage
listens to its `catalog_changed` signal (sent after a sync's commit, and after single-row edits: those find no
new sync run and do nothing). Each rule of kind catalog_change remembers the last sync run it looked at; a
new rule starts with the latest run. A repriced or retired model is an event: one alert per model per run,
nothing to resolve. The alerts are sent at once (concurrently, short timeouts); failures are retried by the
every-minute evaluate_alerts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction

from catalog.changes import catalog_changed
from usage.models import Alert, AlertRule
from usage.selectors.alert_catalog import catalog_change_observations, sync_runs_after
from usage.services.alerts.delivery import alert_raise, deliveries_send

logger = logging.getLogger(__name__)


@dataclass
class CatalogAlertsResult:
    runs: int = 0
    alert_ids: list[int] = field(default_factory=list)


def catalog_alerts_evaluate() -> CatalogAlertsResult:
    """Alert each enabled catalog_change rule about the sync runs that ended ok since it last looked."""
    result = CatalogAlertsResult()
    rule_ids = AlertRule.objects.filter(enabled=True, kind=AlertRule.Kind.CATALOG_CHANGE).values_list(
        "pk", flat=True
    )
    for rule_id in list(rule_ids):
        with transaction.atomic():
            rule = AlertRule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
            if rule is None:
                continue
            runs = sync_runs_after(run_id=rule.last_sync_run_id)
            for run in runs:
                result.runs += 1
                for seen in catalog_change_observations(run=run):
                    title, text = seen.message()
                    alert = alert_raise(
                        rule=rule,
                        event=Alert.Event.FIRED,
                        subject=seen.subject,
                        title=title,
                        text=text,
                        now=run.finished_at or run.started_at,
                    )
                    result.alert_ids.append(alert.pk)
            if runs:
                rule.last_sync_run_id = runs[-1].pk
                rule.save(update_fields=["last_sync_run_id"])
    return result


def _catalog_changed(sender, **kwargs) -> None:
    """After a catalogue change is committed: evaluate, then send what was raised. Never fails the sync."""
    try:
        result = catalog_alerts_evaluate()
        if result.alert_ids:
            deliveries_send(alert_ids=result.alert_ids)
    except Exception:  # the sync is committed: an alert problem is logged, never raised into it
        logger.exception("catalogue-change alerts failed")


def catalog_alerts_connect() -> None:
    """Listen to the catalogue's changes (UsageConfig.ready)."""
    catalog_changed.connect(_catalog_changed, dispatch_uid="usage_catalog_change_alerts")
