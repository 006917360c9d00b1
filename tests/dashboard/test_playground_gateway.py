"""The gateway takes a playground token as a Bearer credential for its key, and nothing else (openai SDK)."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
import time_machine
from django.utils import timezone

from tests.usage.gateway_data import make_catalogue
from usage.credentials import playground_token_issue
from usage.services.keys import api_key_revoke, playground_key_get_or_create

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def sdk(gateway_server, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway_server.api_url, api_key=token, max_retries=0)


def test_a_playground_token_calls_the_gateway_as_its_key(catalogue, gateway_server, member):
    key = playground_key_get_or_create(user=member)
    token = playground_token_issue(user=member, api_key=key)

    reply = sdk(gateway_server, token).chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)

    assert reply.choices[0].message.content == "Hello from the fake OpenRouter."
    [row] = gateway_server.ledger(1)
    assert (row.api_key, row.status, row.generation_id) == (key, "ok", "gen-fake-1")
    # Upstream sees our OpenRouter key, never the browser's token.
    assert gateway_server.fake.last.headers["authorization"] == "Bearer sk-or-test-upstream"


def test_an_expired_playground_token_is_refused(catalogue, gateway_server, member):
    key = playground_key_get_or_create(user=member)
    with time_machine.travel(timezone.now() - timedelta(hours=2), tick=False):
        token = playground_token_issue(user=member, api_key=key)

    with pytest.raises(openai.AuthenticationError):
        sdk(gateway_server, token).chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)

    assert gateway_server.fake.requests == []


def test_a_forged_playground_token_is_refused(catalogue, gateway_server, member):
    key = playground_key_get_or_create(user=member)
    token = playground_token_issue(user=member, api_key=key)

    with pytest.raises(openai.AuthenticationError):
        sdk(gateway_server, token[:-3] + "xyz").chat.completions.create(
            model="openai/gpt-4o-mini", messages=MESSAGES
        )

    assert gateway_server.fake.requests == []


def test_a_token_for_a_revoked_key_is_refused(catalogue, gateway_server, member):
    key = playground_key_get_or_create(user=member)
    token = playground_token_issue(user=member, api_key=key)
    api_key_revoke(api_key=key)

    with pytest.raises(openai.AuthenticationError):
        sdk(gateway_server, token).chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)

    assert gateway_server.fake.requests == []
