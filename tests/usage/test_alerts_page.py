"""/alerts/ (staff: every rule, alert and delivery, and the channels; members: their own keys'), and key
holders opting in on /keys/ to their own keys' alerts, by the e-mail on their user."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from usage.models import Alert, AlertChannel, AlertDelivery, AlertRule, AlertSubscription
from usage.services.alerts.delivery import alert_raise, deliveries_send
from usage.services.alerts.evaluate import alerts_evaluate

from .spend_data import entry, make_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


@pytest.fixture
def raised(admin_user, member, monkeypatch):
    monkeypatch.delenv("ALERT_HOOK_KEY", raising=False)
    mail = AlertChannel.objects.create(name="ops-mail", kind="email", target="ops@example.com")
    AlertChannel.objects.create(
        name="hook", kind="webhook", target="http://127.0.0.1:9/", secret_env="ALERT_HOOK_KEY"
    )
    mine, theirs = make_key("mine", member), make_key("theirs", admin_user)
    AlertRule.objects.create(name="every budget", kind="budget").channels.add(mail)
    AlertRule.objects.create(name="theirs forecast", kind="forecast", api_key=theirs)
    AlertRule.objects.create(name="upstreams", kind="upstream_down")
    for key in (mine, theirs):
        alert_raise(rule=None, event="fired", subject=f"key:{key.pk}", title=f"About {key.name}", text="X",
                    api_key_id=key.pk, channels=[mail], now=NOW)  # fmt: skip
    alert_raise(rule=None, event="fired", subject="upstream:1", title="About upstream", text="Y", now=NOW)
    return mine, theirs


def shown(page: str, *titles: str) -> list[str]:
    return [title for title in titles if title in page]


def test_staff_see_every_rule_alert_delivery_and_the_channels(client, admin_user, raised):
    client.force_login(admin_user)
    page = client.get("/alerts/").content.decode()
    assert shown(page, "About mine", "About theirs", "About upstream") == [
        "About mine",
        "About theirs",
        "About upstream",
    ]
    assert shown(page, "every budget", "theirs forecast", "upstreams") == [
        "every budget",
        "theirs forecast",
        "upstreams",
    ]
    assert page.count('data-delivery="') == 2
    assert '<tr data-channel="hook">' in page
    assert "the environment variable ALERT_HOOK_KEY is not set" in page


def test_members_see_their_own_keys_alerts_only(client, member, raised):
    client.force_login(member)
    page = client.get("/alerts/").content.decode()
    assert shown(page, "About mine", "About theirs", "About upstream") == ["About mine"]
    assert shown(page, "every budget", "theirs forecast", "upstreams") == ["every budget"]
    assert page.count('data-delivery="') == 1
    assert "data-channel=" not in page
    assert "ops@example.com" not in page


def test_an_outsider_sees_no_alert(client, outsider, raised):
    client.force_login(outsider)
    page = client.get("/alerts/").content.decode()
    assert shown(page, "About mine", "About theirs", "About upstream") == []
    assert "No alerts yet." in page


def test_a_key_holder_opts_in_and_gets_their_keys_alerts_by_email(client, member, smtp):
    key = make_key("mine", member, budget_usd=Decimal("10"), budget_period="none")
    AlertRule.objects.create(name="budgets", kind="budget", thresholds=[50])
    client.force_login(member)
    page = client.get("/keys/").content.decode()
    assert "E-mail me its alerts" in page
    response = client.post(f"/keys/{key.pk}/alerts/", {"on": "1"}, follow=True)
    assert "The alerts about mine will be e-mailed to member@example.com." in response.content.decode()
    assert "Stop e-mailing alerts" in response.content.decode()
    entry(datetime(2026, 11, 20, tzinfo=UTC), api_key=key, reported_cost=Decimal("6"))
    result = alerts_evaluate(now=NOW)
    deliveries_send(now=NOW)
    assert result.fired == 1
    [(recipients, message)] = smtp.messages
    assert recipients == ["member@example.com"]
    assert message["Subject"] == "[Tokenledger] Key mine: 50% of its budget spent"
    assert AlertDelivery.objects.get().recipient == "member@example.com"
    client.post(f"/keys/{key.pk}/alerts/", {"on": "0"})
    assert not AlertSubscription.objects.exists()


def test_no_opt_in_without_an_email_nor_on_someone_elses_key(client, member, admin_user, outsider):
    key = make_key("mine", member)
    member.email = ""
    member.save(update_fields=["email"])
    client.force_login(member)
    assert "E-mail me its alerts" not in client.get("/keys/").content.decode()
    response = client.post(f"/keys/{key.pk}/alerts/", {"on": "1"}, follow=True)
    assert "Add an e-mail address to your account to receive alerts." in response.content.decode()
    client.force_login(admin_user)  # staff see the key, but it is not theirs
    assert "E-mail me its alerts" not in client.get("/keys/").content.decode()
    assert client.post(f"/keys/{key.pk}/alerts/", {"on": "1"}).status_code == 404
    client.force_login(outsider)
    assert client.post(f"/keys/{key.pk}/alerts/", {"on": "1"}).status_code == 404
    assert not AlertSubscription.objects.exists()
    assert Alert.objects.count() == 0
