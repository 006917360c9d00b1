"""Ledger rows for the model and compare pages' tests (exact token volumes and costs)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from usage.models import ApiKey, LedgerEntry


def make_key(name: str, owner=None) -> ApiKey:
    return ApiKey.objects.create(name=name, owner=owner, prefix=f"tl-{name}"[:16], secret_hash=f"{name:0>64}")


def make_entry(
    *, key, model: str, days_ago: float = 1, status: str = "ok", cost=None, computed=None, **tokens
):
    return LedgerEntry.objects.create(
        api_key=key,
        created_at=timezone.now() - timedelta(days=days_ago),
        requested_model=model,
        served_model=model if status != "rejected" else "",
        http_status=200 if status == "ok" else 400,
        status=status,
        reported_cost=None if cost is None else Decimal(cost),
        computed_cost=None if computed is None else Decimal(computed),
        **tokens,
    )


def build_ledger(*, member, admin, model: str) -> dict:
    """member's key: two ok requests in the last 30 days, one 40 days ago, one rejected; admin's: one big one."""
    mine = make_key("mine", owner=member)
    theirs = make_key("theirs", owner=admin)
    make_entry(
        key=mine,
        model=model,
        prompt_tokens=10000,
        cached_tokens=4000,
        cache_write_tokens=1000,
        completion_tokens=3000,
        reasoning_tokens=1000,
        cost="0.0042",
    )
    make_entry(
        key=mine,
        model=model,
        prompt_tokens=2000,
        completion_tokens=500,
        computed="0.0005",
        web_search_requests=1,
    )
    make_entry(key=mine, model=model, days_ago=40, prompt_tokens=5000, completion_tokens=5000, cost="1")
    make_entry(key=mine, model=model, status="rejected")
    make_entry(key=theirs, model=model, prompt_tokens=1000000, cost="0.1")
    return {"mine": mine, "theirs": theirs}
