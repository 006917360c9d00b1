"""The admin's alert rule form: thresholds parsed and sorted, scopes that fit the kind."""

import pytest

from usage.models import AlertChannel, AlertRule

pytestmark = pytest.mark.django_db


def rule_form(**changes):
    form = {
        "name": "budgets",
        "kind": "budget",
        "enabled": "on",
        "thresholds": "100, 50,80",
        "scope": "key",
        "window": "hour",
        "factor": "3",
        "min_amount": "1",
        "error_percent": "20",
        "min_requests": "20",
        "days": "3",
        "probes": "3",
    }
    return form | changes


def test_a_budget_rule_is_added_with_its_thresholds_sorted(client, admin_user):
    channel = AlertChannel.objects.create(name="ops-mail", kind="email", target="ops@example.com")
    client.force_login(admin_user)
    response = client.post("/admin/usage/alertrule/add/", rule_form(channels=[channel.pk]))
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert (rule.thresholds, [c.name for c in rule.channels.all()], rule.reminder_minutes) == (
        [50, 80, 100],
        ["ops-mail"],
        None,
    )


def test_the_form_refuses_bad_thresholds_and_a_scope_that_does_not_fit(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/usage/alertrule/add/", rule_form(thresholds="50, lots"))
    assert response.context["adminform"].form.errors == {
        "thresholds": ["Whole percents, comma-separated, e.g. 50, 80, 100."]
    }
    response = client.post("/admin/usage/alertrule/add/", rule_form(thresholds=""))
    assert response.context["adminform"].form.errors == {
        "thresholds": ["A budget rule needs at least one threshold."]
    }
    response = client.post("/admin/usage/alertrule/add/", rule_form(kind="spend_spike", scope="upstream"))
    assert response.context["adminform"].form.errors == {
        "scope": ["A spend_spike rule is key or model scoped."]
    }
    assert not AlertRule.objects.exists()
