"""Fixtures for the alert tests: the loopback HTTP and SMTP receivers, Django's e-mail pointed at the SMTP
one, and a webhook signing key in the environment."""

from __future__ import annotations

import pytest

from tests.fakes.receivers import HttpReceiver, SmtpReceiver

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
