"""End to end: requests through the gateway (fake OpenRouter upstream) show up on the spend pages, exact."""

from __future__ import annotations

import time
from decimal import Decimal

import openai
import pytest
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.usage.gateway_data import make_catalogue
from usage.services.rollups import rollup_catch_up

D = Decimal
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def test_gateway_requests_reach_the_spend_activity_and_keys_pages(
    catalogue, make_api_key, member, gateway_server, client
):
    secret = make_api_key(owner=member, name="e2e", budget_usd=D("1"))
    sdk = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)
    # claude-sonnet-4: 3/M in, 15/M out, cache read 0.3/M, cache write 3.75/M.
    gateway_server.fake.reply(cached_tokens=6, cache_write_tokens=2, reasoning_tokens=3, cost="0.00013")
    sdk.chat.completions.create(model="anthropic/claude-sonnet-4", messages=MESSAGES)
    gateway_server.fake.reply(status=502, message="Provider returned error")
    with pytest.raises(openai.APIStatusError):
        sdk.chat.completions.create(model="anthropic/claude-sonnet-4", messages=MESSAGES)
    ok, failed = gateway_server.ledger(2)
    # (12 - 6 - 2) x 3e-6 + 6 x 3e-7 + 2 x 3.75e-6 + (8 - 3) x 1.5e-5 + 3 x 1.5e-5
    # = 0.000012 + 0.0000018 + 0.0000075 + 0.000075 + 0.000045
    assert ok.computed_cost == D("0.0001413")
    rollup_catch_up(now=timezone.now())  # whatever it rolls up, the pages add the raw tail

    client.login(username="member", password=PASSWORD)
    spend = client.get("/spend/?range=today").context["report"]
    activity = client.get("/activity/").context["page"]
    detail = client.get(f"/activity/{ok.id}/").context
    keys = client.get("/keys/").context["rows"]

    t = spend.totals
    assert (t.requests, t.failed, t.cost, t.reported_cost, t.computed_cost) == (
        2, 1, D("0.00013"), D("0.00013"), D("0.0001413")
    )  # fmt: skip
    assert (t.input_tokens, t.cached_tokens, t.cache_write_tokens, t.output_tokens, t.reasoning_tokens) == (
        4, 6, 2, 5, 3
    )  # fmt: skip
    assert t.cache_savings == 6 * (D("0.000003") - D("0.0000003"))
    assert t.costs_disagree  # 0.00013 reported against 0.0001413 computed: 8 % apart
    assert [e.id for e in activity.entries] == [failed.id, ok.id]
    assert detail["breakdown_total"] == ok.computed_cost
    assert [(row.key.name, row.spent, row.remaining) for row in keys] == [("e2e", D("0.00013"), D("0.99987"))]


def test_response_cache_hits_show_on_the_spend_page_as_requests_that_cost_nothing_and_saved(
    catalogue, make_api_key, member, gateway_server, client
):
    secret = make_api_key(owner=member, name="cached", cache_responses=True)
    sdk = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)
    for _ in range(3):
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, temperature=0)
        from usage.gateway.app import gateway

        gateway.writer.wait_idle()
        while gateway.tasks:  # the cache fill is done in the background once the client has its reply
            time.sleep(0.01)
    rows = gateway_server.ledger(3)
    assert [row.status for row in rows] == ["ok", "cached", "cached"]

    client.login(username="member", password=PASSWORD)
    response = client.get("/spend/?range=today")

    t = response.context["report"].totals
    assert (t.requests, t.cost, t.response_cache_saved) == (3, D("0.0000066"), D("0.0000132"))
    assert '<div class="value good" id="response-cache-saved">$0.0000132</div>' in response.content.decode()
