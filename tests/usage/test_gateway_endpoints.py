"""GET /api/v1/models (our catalogue, filtered by the key) and GET /api/v1/key (OpenRouter's /key shape)."""

from decimal import Decimal

import openai
import pytest

from tests.usage.gateway_data import make_catalogue

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def test_models_lists_the_catalogue_the_key_may_use(gateway_server, catalogue, make_api_key):
    secret = make_api_key(allowed_models=["openai/*", "deepseek/deepseek-r1"])
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)

    ids = sorted(model.id for model in client.models.list())

    assert ids == ["deepseek/deepseek-r1", "openai/gpt-4o-mini"]


def test_models_needs_a_key(gateway_server, catalogue):
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key="tl-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_key_reports_usage_limit_and_rate_limits(gateway_server, catalogue, make_api_key):
    import httpx

    secret = make_api_key(name="ci", budget_usd=Decimal("0.01"), budget_period="daily", rpm_limit=60)
    gateway_server.fake.reply(cost="0.0025")
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)
    client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    gateway_server.ledger(1)

    data = httpx.get(f"{gateway_server.api_url}/key", headers={"Authorization": f"Bearer {secret}"}).json()[
        "data"
    ]

    assert (data["label"], data["usage"], data["limit"], data["limit_remaining"]) == (
        "ci",
        0.0025,
        0.01,
        0.0075,
    )
    assert data["limit_reset"] == "daily"
    assert data["rate_limit"] == {"requests": 60, "tokens": None, "interval": "1m"}
