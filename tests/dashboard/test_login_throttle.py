"""Repeated failed logins are throttled by django-axes per username and address, with a clear message; a good
login after the cool-off works; X-Forwarded-For counts only from TRUSTED_PROXIES."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from dashboard import env
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LOCKED = (
    "Too many failed logins for this username from your address. Try again in 15 minutes, "
    "or ask an admin to unlock it (Admin › Access attempts)."
)


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.TRUSTED_PROXIES = []


def log_in(client, username="member", password=PASSWORD, **meta):
    return client.post("/login/", {"username": username, "password": password}, **meta)


def fail(client, times, username="member", **meta):
    for _ in range(times):
        assert log_in(client, username, "wrong", **meta).status_code == 200  # the form again, not yet locked


def locked_message(response) -> str | None:
    html = response.content.decode()
    start = html.find('<p class="error" id="locked-out" role="alert">')
    return None if start < 0 else html[start:].split(">", 1)[1].split("</p>", 1)[0]


def test_the_third_failure_locks_the_username_from_that_address_with_a_clear_message(client, member):
    with time_machine.travel(NOW, tick=False):
        fail(client, 2, REMOTE_ADDR="198.51.100.1")
        response = log_in(client, password="wrong", REMOTE_ADDR="198.51.100.1")
        assert response.status_code == 429
        assert (
            locked_message(response) == LOCKED.replace("›", "&rsaquo;") or locked_message(response) == LOCKED
        )
        # even the right password is refused while locked
        response = log_in(client, REMOTE_ADDR="198.51.100.1")
        assert response.status_code == 429
        assert "_auth_user_id" not in client.session


def test_a_good_login_after_the_cool_off_works(client, member):
    with time_machine.travel(NOW, tick=False):
        fail(client, 2, REMOTE_ADDR="198.51.100.1")
        assert log_in(client, password="wrong", REMOTE_ADDR="198.51.100.1").status_code == 429
    with time_machine.travel(NOW + timedelta(minutes=14), tick=False):
        # still locked; a try while locked starts the 15 minutes again (axes' default)
        assert log_in(client, REMOTE_ADDR="198.51.100.1").status_code == 429
    with time_machine.travel(NOW + timedelta(minutes=28), tick=False):
        assert log_in(client, REMOTE_ADDR="198.51.100.1").status_code == 429
    with time_machine.travel(NOW + timedelta(minutes=28 + 16), tick=False):
        response = log_in(client, REMOTE_ADDR="198.51.100.1")
        assert (response.status_code, response["Location"]) == (302, "/")
        assert client.session["_auth_user_id"] == str(member.pk)


def test_the_lock_is_per_username_and_address(client, member, admin_user):
    with time_machine.travel(NOW, tick=False):
        fail(client, 2, REMOTE_ADDR="198.51.100.1")
        assert log_in(client, password="wrong", REMOTE_ADDR="198.51.100.1").status_code == 429
        # the same username from another address, another username from the same address: not locked
        assert log_in(client, REMOTE_ADDR="198.51.100.2").status_code == 302
        client.logout()
        assert log_in(client, "admin", REMOTE_ADDR="198.51.100.1").status_code == 302


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(client, member):
    with time_machine.travel(NOW, tick=False):
        for i in range(2):
            assert log_in(client, password="wrong", REMOTE_ADDR="198.51.100.1",
                          HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code == 200  # fmt: skip
        response = log_in(
            client, password="wrong", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.9"
        )
        assert response.status_code == 429  # three failures of one address, whatever the header said


def test_behind_a_trusted_proxy_each_forwarded_client_counts_apart(client, member, settings):
    settings.TRUSTED_PROXIES = ["10.9.0.0/24"]
    proxy = {"REMOTE_ADDR": "10.9.0.2"}
    with time_machine.travel(NOW, tick=False):
        fail(client, 2, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
        assert (
            log_in(client, password="wrong", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy).status_code == 429
        )
        # a forged left-most entry does not help: the right-most untrusted hop is the client
        forged = {"HTTP_X_FORWARDED_FOR": "192.0.2.1, 203.0.113.7, 10.9.0.1"}
        assert log_in(client, **forged, **proxy).status_code == 429
        # another client behind the same proxy is not locked
        assert log_in(client, HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy).status_code == 302


def test_trusted_proxies_must_be_addresses_or_networks(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "172.18.0.0/16, 10.0.0.5")
    assert env.env_networks("TRUSTED_PROXIES") == ["172.18.0.0/16", "10.0.0.5"]
    monkeypatch.setenv("TRUSTED_PROXIES", "proxy.local")
    with pytest.raises(
        env.ConfigError, match="TRUSTED_PROXIES must list IP addresses or networks; got 'proxy.local'"
    ):
        env.env_networks("TRUSTED_PROXIES")
