"""Alert channels over loopback: e-mail to a local SMTP server, a signed webhook and a Slack-compatible one
to a local HTTP receiver; the admin's validation; a channel that times out delays no other; retries back off."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from usage.models import Alert, AlertChannel, AlertDelivery
from usage.services.alerts.delivery import alert_raise, deliveries_send

pytestmark = pytest.mark.django_db

TEST_TEXT = "This is a test alert from Tokenledger to the channel {name} ({kind})."


def test_a_test_alert_reaches_an_email_channel(smtp, capsys):
    AlertChannel.objects.create(name="ops-mail", kind="email", target="ops@example.com, oncall@example.com")
    call_command("send_test_alert", "--channel", "ops-mail")
    assert capsys.readouterr().out == "test alert sent to ops-mail\n"
    [(recipients, message)] = smtp.messages
    assert recipients == ["ops@example.com", "oncall@example.com"]
    assert message["Subject"] == "[Tokenledger] Test alert to ops-mail"
    assert message["From"] == "tokenledger@example.com"
    assert message.get_content().strip() == TEST_TEXT.format(name="ops-mail", kind="email")
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 1, "")


def test_a_webhook_is_a_json_post_signed_with_hmac_sha256(http_receiver, signing_key, capsys):
    AlertChannel.objects.create(
        name="hook", kind="webhook", target=f"{http_receiver.url}/hook/", secret_env="ALERT_HOOK_KEY"
    )
    call_command("send_test_alert", "--channel", "hook")
    [request] = http_receiver.requests
    assert request.path == "/hook/"
    assert request.headers["Content-Type"] == "application/json"
    timestamp = request.headers["X-Tokenledger-Timestamp"]
    expected = hmac.new(signing_key.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["X-Tokenledger-Signature"] == f"sha256={expected.hexdigest()}"
    alert = Alert.objects.get()
    assert json.loads(request.body) == {
        "alert_id": alert.pk,
        "event": "test",
        "rule": "",
        "subject": "channel:hook",
        "title": "Test alert to hook",
        "message": TEST_TEXT.format(name="hook", kind="webhook"),
        "created_at": alert.created_at.isoformat(),
    }
    wrong = hmac.new(b"another key", f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["X-Tokenledger-Signature"] != f"sha256={wrong.hexdigest()}"


def test_a_slack_webhook_gets_a_readable_message(http_receiver):
    AlertChannel.objects.create(name="slack", kind="slack", target=f"{http_receiver.url}/services/T1/B2")
    call_command("send_test_alert", "--channel", "slack")
    [request] = http_receiver.requests
    assert json.loads(request.body) == {
        "text": "*Test alert to slack*\n" + TEST_TEXT.format(name="slack", kind="slack")
    }


def test_a_webhook_whose_variable_is_unset_is_broken(client, admin_user, http_receiver, monkeypatch):
    monkeypatch.delenv("ALERT_HOOK_KEY", raising=False)
    AlertChannel.objects.create(
        name="hook", kind="webhook", target=f"{http_receiver.url}/hook/", secret_env="ALERT_HOOK_KEY"
    )
    client.force_login(admin_user)
    page = client.get("/admin/usage/alertchannel/").content.decode()
    assert "broken: the environment variable ALERT_HOOK_KEY is not set" in page
    with pytest.raises(CommandError, match="^test alert to hook failed: no signing key: the channel's"):
        call_command("send_test_alert", "--channel", "hook")
    assert http_receiver.requests == []
    assert AlertDelivery.objects.get().status == "failed"


def test_an_unknown_channel_is_an_error():
    with pytest.raises(CommandError, match="^No alert channel named 'nope'.$"):
        call_command("send_test_alert", "--channel", "nope")


def channel_form(**changes):
    form = {"name": "hook", "kind": "webhook", "target": "http://127.0.0.1:9/hook", "secret_env": ""}
    form |= {"enabled": "on"} | changes
    return form


def test_the_admin_form_wants_an_http_url_and_a_set_signing_variable(client, admin_user, monkeypatch):
    monkeypatch.delenv("ALERT_HOOK_KEY", raising=False)
    client.force_login(admin_user)
    response = client.post("/admin/usage/alertchannel/add/", channel_form(target="ftp://hooks.example/x"))
    assert response.context["adminform"].form.errors == {
        "target": [
            "A webhook URL must start with http:// or https:// and name a host: 'ftp://hooks.example/x'."
        ],
        "secret_env": ["Name the environment variable holding the webhook's signing key."],
    }
    response = client.post("/admin/usage/alertchannel/add/", channel_form(secret_env="ALERT_HOOK_KEY"))
    assert response.context["adminform"].form.errors == {
        "secret_env": [
            "The environment variable ALERT_HOOK_KEY is not set in the server's environment: "
            "set it (and restart), or disable the channel."
        ]
    }
    response = client.post(
        "/admin/usage/alertchannel/add/", channel_form(kind="email", target="ops, a@example.com")
    )
    assert response.context["adminform"].form.errors == {"target": ["Not an e-mail address: 'ops'."]}
    monkeypatch.setenv("ALERT_HOOK_KEY", "k")
    response = client.post("/admin/usage/alertchannel/add/", channel_form(secret_env="ALERT_HOOK_KEY"))
    assert response.status_code == 302
    assert AlertChannel.objects.get().target == "http://127.0.0.1:9/hook"


def test_a_channel_that_times_out_delays_no_other(settings, http_receiver, smtp, signing_key):
    settings.ALERT_TIMEOUT_SECONDS = 0.5
    slow = AlertChannel.objects.create(name="slow", kind="slack", target=f"{http_receiver.url}/slow/")
    fast = AlertChannel.objects.create(
        name="fast", kind="webhook", target=f"{http_receiver.url}/fast/", secret_env="ALERT_HOOK_KEY"
    )
    mail = AlertChannel.objects.create(name="mail", kind="email", target="ops@example.com")
    now = datetime.now(UTC)
    alert_raise(
        rule=None, event="fired", subject="s", title="T", text="X", channels=[slow, fast, mail], now=now
    )
    started = time.monotonic()
    result = deliveries_send(now=now)
    assert time.monotonic() - started < 2.0  # one timeout, not three, and not the slow server's 3 s
    assert (result.sent, result.failed, result.given_up) == (2, 1, 0)
    assert [r.path for r in http_receiver.requests] == ["/fast/"]
    assert len(smtp.messages) == 1
    by_channel = {d.channel.name: d for d in AlertDelivery.objects.select_related("channel")}
    assert (by_channel["fast"].status, by_channel["mail"].status) == ("sent", "sent")
    late = by_channel["slow"]
    assert (late.status, late.attempts, late.error) == ("pending", 1, "timed out after 0.5 s")
    assert late.next_attempt_at == now + timedelta(seconds=60)


def test_failed_deliveries_are_retried_with_back_off_then_given_up(settings, http_receiver):
    settings.ALERT_DELIVERY_ATTEMPTS = 3
    settings.ALERT_RETRY_SECONDS = 60
    failing = AlertChannel.objects.create(name="down", kind="slack", target=f"{http_receiver.url}/fail/")
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    alert_raise(rule=None, event="fired", subject="s", title="T", text="X", channels=[failing], now=t0)

    def attempt(at):
        return deliveries_send(now=at), AlertDelivery.objects.get()

    result, delivery = attempt(t0)
    assert (result.failed, delivery.attempts, delivery.error) == (1, 1, "HTTP 500 Internal Server Error")
    assert delivery.next_attempt_at == t0 + timedelta(seconds=60)
    result, delivery = attempt(t0 + timedelta(seconds=59))
    assert (result.sent, result.failed, delivery.attempts) == (0, 0, 1)
    result, delivery = attempt(t0 + timedelta(seconds=60))
    assert (delivery.attempts, delivery.next_attempt_at) == (2, t0 + timedelta(seconds=60 + 120))
    result, delivery = attempt(t0 + timedelta(seconds=180))
    assert (result.given_up, delivery.status, delivery.attempts) == (1, "failed", 3)
    assert delivery.next_attempt_at is None
    assert len(http_receiver.requests) == 3
    result, delivery = attempt(t0 + timedelta(days=1))
    assert (result.sent, result.failed, delivery.attempts) == (0, 0, 3)
