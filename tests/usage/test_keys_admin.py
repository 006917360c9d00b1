"""API keys in the admin: the secret shown once on creation (only its hash stored), revoke, limits."""

import hashlib
import re
from decimal import Decimal

from usage.models import ApiKey
from usage.services.keys import api_key_create


def test_creating_a_key_shows_its_secret_once_and_stores_its_hash(client, admin_user, member):
    client.force_login(admin_user)
    response = client.post(
        "/admin/usage/apikey/add/",
        {
            "name": "ci",
            "owner": member.pk,
            "budget_usd": "12.5",
            "budget_period": "weekly",
            "rpm_limit": "60",
            "tpm_limit": "",
            "allowed_models": "openai/*, anthropic/claude-sonnet-4",
            "tags": "team-a",
            "expires_at_0": "",
            "expires_at_1": "",
            "capture_bodies": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    [secret] = re.findall(r"tl-[A-Za-z0-9_-]{43}", response.content.decode())
    key = ApiKey.objects.get()
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (key.name, key.owner, key.budget_usd, key.budget_period, key.rpm_limit) == (
        "ci",
        member,
        Decimal("12.5"),
        "weekly",
        60,
    )
    assert key.allowed_models == ["openai/*", "anthropic/claude-sonnet-4"]
    assert (key.capture_bodies, key.cache_responses) == (True, False)
    assert secret not in client.get(f"/admin/usage/apikey/{key.pk}/change/").content.decode()


def test_the_revoke_action_revokes_the_selected_keys(client, admin_user):
    key, _ = api_key_create(name="old")
    client.force_login(admin_user)

    client.post("/admin/usage/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is not None


def test_capture_is_turned_on_for_an_existing_key_in_the_admin(client, admin_user, member):
    key, _secret = api_key_create(name="laptop", owner=member)
    client.force_login(admin_user)
    form = {
        "name": "laptop",
        "owner": member.pk,
        "budget_period": "monthly",
        "allowed_models": "",
        "tags": "",
    }

    response = client.post(
        f"/admin/usage/apikey/{key.pk}/change/",
        {**form, "expires_at_0": "", "expires_at_1": "", "capture_bodies": "on"},
    )

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.capture_bodies is True
