"""Usage an upstream cannot mean (a cost of NaN, Infinity, 1e308 or below 0; token counts that are not
counts or beyond the model's context) is set aside, not stored or spent: the row is always written, with the
value as received in extra_usage["invalid"] and the computed cost spent instead. Through the real gateway
over HTTP against a raw upstream, on either backend."""

from __future__ import annotations

import json
from decimal import Decimal

import openai
import pytest
from django.db.models import Sum

from catalog.models import CatalogModel
from tests.fakes.rawhttp import json_reply, sse_reply, stream_events
from tests.usage.gateway_data import make_catalogue
from usage.costs import SPENT_COST
from usage.models import LedgerEntry

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
COMPUTED = Decimal("0.0000066")  # 12 × $0.15/M + 8 × $0.60/M


@pytest.fixture
def catalogue(transactional_db):
    make_catalogue()
    CatalogModel.objects.filter(model_id=MODEL).update(context_length=128_000)


def reply_with(**usage) -> bytes:
    body = {
        "id": "gen-raw-1",
        "object": "chat.completion",
        "created": 1764547200,
        "model": MODEL,
        "provider": "OpenAI",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20, "cost": 0.0000066} | usage,
    }
    return json.dumps(body).encode()


def ask(server, secret):
    client = openai.OpenAI(base_url=server.api_url, api_key=secret, max_retries=0)
    return client.chat.completions.create(model=MODEL, messages=MESSAGES)


def spent() -> Decimal:
    return LedgerEntry.objects.aggregate(total=Sum(SPENT_COST))["total"]


@pytest.mark.parametrize(
    ("cost", "kept"),
    [
        ('"NaN"', "NaN"),
        ('"Infinity"', "Infinity"),
        ("1e13", "10000000000000.0"),  # numbers above the ceiling are kept exactly, as text
        ("1e308", "1E+308"),
        ("-0.05", -0.05),
        ('"-1"', "-1"),
        ('"a lot"', "a lot"),
        ("1000.5", "1000.5"),  # above the ceiling (GATEWAY_MAX_REQUEST_COST, $1000)
    ],
)
def test_a_bad_cost_is_set_aside_and_the_computed_cost_spent(
    raw_gateway, catalogue, make_api_key, cost, kept
):
    raw_gateway.fake.script(json_reply(reply_with().replace(b"6.6e-06", cost.encode())))

    assert ask(raw_gateway, make_api_key()).choices[0].message.content == "Hi"

    [row] = raw_gateway.ledger(1)
    assert (row.status, row.prompt_tokens, row.completion_tokens) == ("ok", 12, 8)
    assert row.reported_cost is None
    assert row.computed_cost == COMPUTED
    assert row.extra_usage["invalid"] == {"cost": kept}
    assert spent() == COMPUTED


def test_a_cost_at_the_ceiling_is_kept(raw_gateway, catalogue, make_api_key):
    raw_gateway.fake.script(json_reply(reply_with(cost=1000)))
    ask(raw_gateway, make_api_key())
    [row] = raw_gateway.ledger(1)
    assert (row.reported_cost, row.extra_usage) == (Decimal("1000"), {})


@pytest.mark.parametrize(
    ("usage", "invalid"),
    [
        ({"prompt_tokens": -5}, {"prompt_tokens": -5}),
        ({"prompt_tokens": 2**31}, {"prompt_tokens": 2**31}),
        ({"prompt_tokens": 12.5}, {"prompt_tokens": 12.5}),
        ({"prompt_tokens": "12"}, {"prompt_tokens": "12"}),
        ({"completion_tokens_details": {"reasoning_tokens": -1}}, {"reasoning_tokens": -1}),
    ],
)
def test_a_token_count_that_is_not_a_count_is_set_aside(raw_gateway, catalogue, make_api_key, usage, invalid):
    raw_gateway.fake.script(json_reply(reply_with(**usage)))
    ask(raw_gateway, make_api_key())
    [row] = raw_gateway.ledger(1)
    assert row.extra_usage["invalid"] == invalid
    assert row.reported_cost == Decimal("0.0000066")
    assert row.prompt_tokens == (0 if "prompt_tokens" in invalid else 12)


def test_counts_beyond_four_times_the_context_are_set_aside(raw_gateway, catalogue, make_api_key):
    raw_gateway.fake.script(json_reply(reply_with(prompt_tokens=512_001)))  # context 128 000 × 4 = 512 000
    ask(raw_gateway, make_api_key())
    [row] = raw_gateway.ledger(1)
    assert (row.prompt_tokens, row.completion_tokens) == (0, 0)
    assert row.extra_usage["invalid"] == {"prompt_tokens": 512_001, "completion_tokens": 8}
    assert row.computed_cost == Decimal(0)
    assert row.reported_cost == Decimal("0.0000066")


def test_a_bad_cost_in_a_stream_is_set_aside(raw_gateway, catalogue, make_api_key):
    events = [e.replace(b'"cost": 6.6e-06', b'"cost": "NaN"') for e in stream_events(text="Hi")]
    assert any(b'"NaN"' in e for e in events)
    raw_gateway.fake.script(sse_reply(events))
    client = openai.OpenAI(base_url=raw_gateway.api_url, api_key=make_api_key(), max_retries=0)
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        if c.choices
    )
    assert text == "Hi"
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.reported_cost, row.computed_cost) == ("ok", None, COMPUTED)
    assert row.extra_usage["invalid"] == {"cost": "NaN"}
