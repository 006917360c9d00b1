"""The gateway costs each request at its effective prices (catalog.price_schedule): long-context tiers by
the reported prompt size, time-of-day windows by the request's start, one-hour cache writes at their price.
Real catalogue entries (the bundled 2026-08-19 snapshot), synced as a sync would, through the real gateway."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
import time_machine

from catalog.services.sync import SEED_PATH, catalog_sync

MODELS = ("anthropic/claude-sonnet-4", "deepseek/deepseek-v4-pro", "openai/gpt-4o-mini")
MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def catalogue(transactional_db):
    listing = json.loads(gzip.decompress(SEED_PATH.read_bytes()))["data"]
    catalog_sync(
        payload={"data": [item for item in listing if item["id"] in MODELS]},
        source="test",
        now=datetime(2026, 8, 1, tzinfo=UTC),
    )


@pytest.fixture
def client(gateway_server, catalogue, make_api_key):
    return openai.OpenAI(base_url=gateway_server.api_url, api_key=make_api_key(), max_retries=0)


def test_a_long_prompt_is_costed_at_the_long_context_tier(gateway_server, client):
    gateway_server.fake.reply(prompt_tokens=250_000, completion_tokens=1_000, cost="1.5225")
    gateway_server.fake.reply(prompt_tokens=200_000, completion_tokens=1_000, cost="0.615")
    for _ in range(2):
        client.chat.completions.create(model="anthropic/claude-sonnet-4", messages=MESSAGES)
    long, at_threshold = gateway_server.ledger(2)
    assert long.computed_cost == Decimal("1.5225")  # 250 000 × $6/M + 1 000 × $22.5/M; base prices: $0.765
    assert at_threshold.computed_cost == Decimal("0.615")  # not above 200 000: base, $3/M and $15/M


def test_one_hour_cache_writes_are_stored_and_costed(gateway_server, client):
    gateway_server.fake.reply(
        prompt_tokens=10_000, cache_write_tokens=4_000, cache_write_1h_tokens=1_000, completion_tokens=100
    )
    client.chat.completions.create(model="anthropic/claude-sonnet-4", messages=MESSAGES)
    [row] = gateway_server.ledger(1)
    assert (row.prompt_tokens, row.cache_write_tokens, row.cache_write_1h_tokens) == (10_000, 4_000, 1_000)
    assert "cache_creation" not in row.extra_usage
    # 6 000 × $3/M + 3 000 × $3.75/M + 1 000 × $6/M + 100 × $15/M
    assert row.computed_cost == Decimal("0.03675")


@pytest.mark.parametrize(
    ("clock", "cost"),
    [
        ("2026-08-20 00:30", Decimal("0.0000264")),  # 10:00-01:00 UTC, across midnight: $0.66/M, $1.98/M
        ("2026-08-20 02:00", Decimal("0.0000528")),  # 01:00-04:00: $1.32/M, $3.96/M
    ],
)
def test_a_timed_price_is_the_one_in_effect_when_the_request_began(gateway_server, client, clock, cost):
    gateway_server.fake.reply(prompt_tokens=10, completion_tokens=10)
    with time_machine.travel(datetime.fromisoformat(clock).replace(tzinfo=UTC), tick=True):
        client.chat.completions.create(model="deepseek/deepseek-v4-pro", messages=MESSAGES)
    [row] = gateway_server.ledger(1)
    assert row.computed_cost == cost


def test_cache_reads_save_at_the_tier_the_prompt_falls_in(gateway_server, client, admin_client):
    gateway_server.fake.reply(prompt_tokens=250_000, cached_tokens=100_000, completion_tokens=1_000)
    client.chat.completions.create(model="anthropic/claude-sonnet-4", messages=MESSAGES)
    [row] = gateway_server.ledger(1)
    # 150 000 × $6/M + 100 000 × $0.60/M + 1 000 × $22.5/M, all at the long-context tier
    assert row.computed_cost == Decimal("0.9825")
    assert row.cache_savings == Decimal("0.54")  # 100 000 × ($6 − $0.60)/M; at base prices: $0.27
    report = admin_client.get("/spend/", {"range": "today"}).context["report"]
    assert report.totals.cache_savings == Decimal("0.54")
    detail = admin_client.get(f"/activity/{row.pk}/")
    assert detail.context["savings"] == Decimal("0.54")
