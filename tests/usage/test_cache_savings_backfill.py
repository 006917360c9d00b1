"""Migration 0019 gives rows stored before it their prompt-cache savings at their effective prices."""

from __future__ import annotations

import importlib
from decimal import Decimal as D

from django.apps import apps

from tests.usage.spend_data import at, entry, make_model

backfill = importlib.import_module("usage.migrations.0019_ledger_cache_savings").backfill

TIER = [{"min_prompt_tokens": 200_000, "prompt": "0.000006", "input_cache_read": "0.0000006"}]


def test_rows_stored_before_get_their_savings_at_their_tier(db):
    _, sonnet = make_model(
        "anthropic/claude-sonnet-4", prompt=D("0.000003"), input_cache_read=D("0.0000003"), overrides=TIER
    )
    _, llama = make_model("meta-llama/llama-3.3-70b-instruct", prompt=D("0.0000001"))
    rows = [
        entry(at(9, 0), version=sonnet, prompt_tokens=250_000, cached_tokens=100_000, cache_savings=0),
        entry(at(9, 1), version=sonnet, prompt_tokens=10_000, cached_tokens=8_000, cache_savings=0),
        entry(
            at(9, 2), version=llama, prompt_tokens=1_000, cached_tokens=800, cache_savings=0
        ),  # no read price
        entry(at(9, 3), prompt_tokens=1_000, cached_tokens=800, cache_savings=0),  # no version
    ]

    backfill(apps, None)

    saved = [
        row.cache_savings
        for row in type(rows[0]).objects.filter(pk__in=[r.pk for r in rows]).order_by("created_at")
    ]
    assert saved == [D("0.54"), D("0.0216"), D(0), D(0)]  # 100 000 × $5.40/M; 8 000 × $2.70/M
