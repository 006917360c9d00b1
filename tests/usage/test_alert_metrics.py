"""/metrics shows the alert deliveries that failed every attempt, read from the database at most once a
minute (a scrape in between gets the figure read before)."""

from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from usage.gateway import store as gateway_store
from usage.gateway.app import gateway
from usage.models import Alert, AlertDelivery

TOKEN = "metrics-secret-token"


def failed_deliveries(server) -> float:
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    [family] = [
        f for f in text_string_to_metric_families(text) if f.name == "tokenledger_alert_deliveries_failed"
    ]
    assert family.type == "gauge"
    return family.samples[0].value


def deliveries(count: int, status: str) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    alert = Alert.objects.create(event="fired", title="T", message="X", created_at=now)
    AlertDelivery.objects.bulk_create(
        AlertDelivery(alert=alert, recipient="a@example.com", status=status, created_at=now)
        for _ in range(count)
    )


@pytest.mark.django_db(transaction=True)
def test_failed_deliveries_are_read_at_most_once_a_minute(gateway_server, settings, monkeypatch):
    settings.METRICS_TOKEN = TOKEN
    gateway.store.failed_deliveries_read = None  # the gateway is a module singleton: forget earlier tests
    deliveries(2, "failed")
    deliveries(3, "sent")
    assert failed_deliveries(gateway_server) == 2
    deliveries(4, "failed")
    assert failed_deliveries(gateway_server) == 2  # read less than a minute ago: not read again
    monkeypatch.setattr(gateway_store, "FAILED_DELIVERIES_SECONDS", 0.0)  # as if a minute had passed
    assert failed_deliveries(gateway_server) == 6
