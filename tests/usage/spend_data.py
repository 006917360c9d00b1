"""A small hand-computed ledger for the spend, activity, keys and rollup tests.

Now is 2026-11-30 12:30 UTC; hours before 12:00 are final (the rollup grace is 12 minutes).

| # | key   | model                    | provider  | status   | at    | prompt | cached | write | compl | reas | reported | computed |
| 1 | alpha | openai/gpt-4o            | OpenAI    | ok       | 09:10 | 1000   | 400    | 0     | 200   | 0    | 0.004    | 0.004    |
| 2 | alpha | anthropic/claude-sonnet-4| Anthropic | ok       | 10:20 | 2000   | 1000   | 500   | 300   | 100  | 0.0082   | 0.008175 |
| 3 | ops   | openai/gpt-4o            | Azure     | error    | 11:05 | 0      | 0      | 0     | 0     | 0    | None     | 0        |
| 4 | ops   | anthropic/claude-sonnet-4| Anthropic | ok       | 12:10 | 100    | 0      | 0     | 50    | 0    | 0.0021   | 0.00105  |
| 5 | alpha | openai/gpt-4o (requested)| ""        | rejected | 12:15 | 0      | 0      | 0     | 0     | 0    | None     | None     |

gpt-4o: input 2.5/M, output 10/M, cache read 1.25/M. claude: input 3/M, output 15/M, cache read 0.3/M, write 3.75/M.
The gateway's formula (catalog.pricing.usage_cost): (prompt - cached - writes) x input + cached x cache read
+ writes x cache write + (completion - reasoning) x output + reasoning x reasoning price (output when unpriced).
#1 computed: 600*2.5e-6 + 400*1.25e-6 + 200*1e-5 = 0.0015 + 0.0005 + 0.002 = 0.004; savings 400*1.25e-6 = 0.0005
#2 computed: 500*3e-6 + 1000*3e-7 + 500*3.75e-6 + 200*1.5e-5 + 100*1.5e-5
   = 0.0015 + 0.0003 + 0.001875 + 0.003 + 0.0015 = 0.008175; savings 1000*(3e-6 - 3e-7) = 0.0027
#4 computed: 100*3e-6 + 50*1.5e-5 = 0.00105 (reported 0.0021: they disagree)
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion
from tests.conftest import PASSWORD
from usage.costs import cache_savings
from usage.models import ApiKey, LedgerEntry

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
D = Decimal


def make_key(name: str, owner=None, **fields) -> ApiKey:
    return ApiKey.objects.create(
        name=name,
        owner=owner,
        prefix=f"tl-{name}"[:16],
        secret_hash=hashlib.sha256(f"secret-{name}".encode()).hexdigest(),
        **fields,
    )


def make_model(model_id: str, **prices) -> tuple[CatalogModel, PriceVersion]:
    model = CatalogModel.objects.create(
        model_id=model_id,
        author=model_id.split("/")[0],
        name=model_id,
        first_seen=datetime(2026, 1, 1, tzinfo=UTC),
        last_seen=NOW,
    )
    prices = {name: Decimal(0) for name in PRICE_FIELDS} | prices  # absent from a listing: 0
    version = PriceVersion.objects.create(
        catalog_model=model, valid_from=datetime(2026, 1, 1, tzinfo=UTC), **prices
    )
    return model, version


def entry(at: datetime, *, api_key=None, model: str = "openai/gpt-4o", version=None, **fields) -> LedgerEntry:
    status = fields.pop("status", LedgerEntry.Status.OK)
    defaults = {
        "requested_model": model,
        "served_model": model if status != LedgerEntry.Status.REJECTED else "",
        "catalog_model": version.catalog_model if version else None,
        "price_version": version,
        "http_status": 200 if status == LedgerEntry.Status.OK else 502,
        "status": status,
    }
    defaults.update(fields)
    if version is not None and "cache_savings" not in fields:  # as the gateway stores it
        prices = version.prices_at(defaults.get("prompt_tokens", 0), at)
        defaults["cache_savings"] = cache_savings(defaults.get("cached_tokens", 0), prices)
    return LedgerEntry.objects.create(created_at=at, api_key=api_key, **defaults)


def at(hour: int, minute: int, day: int = 30) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def build_ledger(*, member, admin) -> dict:
    """The five requests of the module docstring; returns the keys, price versions and entries."""
    _, gpt = make_model(
        "openai/gpt-4o", prompt=D("0.0000025"), completion=D("0.00001"), input_cache_read=D("0.00000125")
    )
    _, claude = make_model(
        "anthropic/claude-sonnet-4",
        prompt=D("0.000003"),
        completion=D("0.000015"),
        input_cache_read=D("0.0000003"),
        input_cache_write=D("0.00000375"),
    )
    alpha = make_key("alpha", member, budget_usd=D("1.00"), budget_period=ApiKey.Period.MONTHLY)
    ops = make_key("ops", admin)
    entries = [
        entry(
            at(9, 10),
            api_key=alpha,
            version=gpt,
            provider="OpenAI",
            prompt_tokens=1000,
            cached_tokens=400,
            completion_tokens=200,
            reported_cost=D("0.004"),
            computed_cost=D("0.004"),
            latency_ms=800,
            ttft_ms=300,
            generation_id="gen-1",
        ),
        entry(
            at(10, 20),
            api_key=alpha,
            model="anthropic/claude-sonnet-4",
            version=claude,
            provider="Anthropic",
            prompt_tokens=2000,
            cached_tokens=1000,
            cache_write_tokens=500,
            completion_tokens=300,
            reasoning_tokens=100,
            reported_cost=D("0.0082"),
            computed_cost=D("0.008175"),
            latency_ms=1200,
            generation_id="gen-2",
        ),
        entry(
            at(11, 5),
            api_key=ops,
            version=gpt,
            provider="Azure",
            status=LedgerEntry.Status.ERROR,
            computed_cost=D("0"),
            error_code="502",
            error_message='upstream said "no", then hung up',
            latency_ms=100,
        ),
        entry(
            at(12, 10),
            api_key=ops,
            model="anthropic/claude-sonnet-4",
            version=claude,
            provider="Anthropic",
            prompt_tokens=100,
            completion_tokens=50,
            reported_cost=D("0.0021"),
            computed_cost=D("0.00105"),
            latency_ms=400,
            generation_id="gen-4",
        ),
        entry(
            at(12, 15),
            api_key=alpha,
            status=LedgerEntry.Status.REJECTED,
            http_status=402,
            error_code="budget_exceeded",
            error_message="Budget exceeded",
        ),
    ]
    return {"alpha": alpha, "ops": ops, "gpt": gpt, "claude": claude, "entries": entries}


def log_in(client, user):
    """The test client, logged in as `user` (made with tests.conftest.PASSWORD)."""
    client.login(username=user.username, password=PASSWORD)
    return client


def ids_on(response) -> list[int]:
    """The ids of the ledger rows an activity page lists, in order."""
    return [entry.id for entry in response.context["page"].entries]
