"""Playground tokens: signed, bound to one user and one of their keys, short-lived."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.signing import b64_encode

from tests.dashboard.test_playground import make_key
from usage.credentials import playground_token_claims, playground_token_issue
from usage.selectors.playground import playground_api_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def test_a_token_stands_for_the_users_key(member):
    key = make_key(member)

    token = playground_token_issue(user=member, api_key=key)

    assert token.startswith("tlpg_")
    assert playground_api_key(token) == key


def test_a_token_is_only_issued_for_the_users_own_key(member, outsider):
    with pytest.raises(ValueError, match="the user's own key"):
        playground_token_issue(user=member, api_key=make_key(outsider))


def test_a_token_expires_after_an_hour(member):
    key = make_key(member)
    with time_machine.travel(NOW, tick=False):
        token = playground_token_issue(user=member, api_key=key)
    with time_machine.travel(NOW + timedelta(minutes=59), tick=False):
        assert playground_api_key(token) == key
    with time_machine.travel(NOW + timedelta(minutes=61), tick=False):
        assert playground_token_claims(token) is None
        assert playground_api_key(token) is None


@pytest.mark.parametrize("mangle", ["signature", "prefix", "payload", "empty"])
def test_a_forged_or_malformed_token_stands_for_nothing(member, mangle):
    key = make_key(member)
    token = playground_token_issue(user=member, api_key=key)
    bad = {
        "signature": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "prefix": "tl-" + token[len("tlpg_") :],
        "payload": "tlpg_"
        + b64_encode(f'{{"u":{member.pk},"k":{key.pk + 1}}}'.encode()).decode()
        + token[token.index(":") :],
        "empty": "tlpg_",
    }[mangle]

    assert playground_token_claims(bad) is None
    assert playground_api_key(bad) is None


def test_a_token_stops_working_when_the_key_changes_hands_or_the_user_is_deactivated(member, outsider):
    key = make_key(member)
    token = playground_token_issue(user=member, api_key=key)

    key.owner = outsider
    key.save(update_fields=["owner"])
    assert playground_api_key(token) is None

    key.owner = member
    key.save(update_fields=["owner"])
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert playground_api_key(token) is None


@pytest.mark.django_db(transaction=True)
def test_the_gateway_loads_the_key_a_playground_token_stands_for(member, outsider):
    from usage.gateway.store import Store

    key = make_key(member)
    token = playground_token_issue(user=member, api_key=key)

    async def load(*tokens):
        store = Store()
        try:
            return [await store.playground_key(one) for one in tokens]
        finally:
            await store.close()

    found, forged = asyncio.run(load(token, token[:-1]))
    assert (found.id, found.prefix, forged) == (key.pk, key.prefix, None)
    key.owner = outsider
    key.save(update_fields=["owner"])
    assert asyncio.run(load(token)) == [None]
