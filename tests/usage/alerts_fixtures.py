"""Fixtures for the alert tests: the loopback HTTP and SMTP receivers, Django's e-mail pointed at the SMTP
one, a webhook signing key in the environment, a Slack channel on the HTTP receiver; and the rules' helpers
(a rule sending to a channel, an evaluation with its deliveries)."""

from __future__ import annotations

import pytest

from tests.fakes.receivers import HttpReceiver, SmtpReceiver
from usage.models import Alert, AlertChannel, AlertRule
from usage.services.alerts.delivery import deliveries_send
from usage.services.alerts.evaluate import alerts_evaluate

SECRET = "alert-signing-key-for-tests"


@pytest.fixture
def http_receiver():
    receiver = HttpReceiver(slow_seconds=3.0).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp(settings):
    receiver = SmtpReceiver().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", receiver.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "tokenledger@example.com"
    yield receiver
    receiver.stop()


@pytest.fixture
def signing_key(monkeypatch):
    monkeypatch.setenv("ALERT_HOOK_KEY", SECRET)
    return SECRET


@pytest.fixture
def slack(http_receiver):
    return AlertChannel.objects.create(name="slack", kind="slack", target=f"{http_receiver.url}/slack")


def make_rule(channel, **fields):
    rule = AlertRule.objects.create(**fields)
    rule.channels.add(channel)
    return rule


def evaluate(at):
    """Evaluate and deliver at `at`; the (event, title, text) of the alerts raised."""
    result = alerts_evaluate(now=at)
    deliveries_send(now=at)
    return [
        (a.event, a.title, a.message) for a in Alert.objects.filter(pk__in=result.alert_ids).order_by("pk")
    ]
