"""CPU cost of the gateway's routing decisions per request, in microseconds (no network, no database).

    .venv/bin/python bench/gateway_routing.py

Times, on one core, the routing plan of a request (usage/gateway/plan.py, pure): a plain model (OpenRouter
and another upstream, whose body gets its prefix replaced) and a 3-member alias (ordered / cheapest /
fastest / weighted); the cache's deterministic check and key; and the metrics' observe(). The wrk figures
(bench/gateway_targets.py) measure the whole request; these isolate these steps, which its noise would hide.
"""

from __future__ import annotations

import os
import random
import sys
import timeit
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402

from catalog.price_schedule import PriceSchedule  # noqa: E402
from usage.gateway import cache  # noqa: E402
from usage.gateway.auth import KeyInfo  # noqa: E402
from usage.gateway.metrics import Metrics  # noqa: E402
from usage.gateway.plan import plan_request  # noqa: E402
from usage.gateway.request import check  # noqa: E402
from usage.gateway.row import LedgerRow  # noqa: E402
from usage.gateway.snapshot import Catalogue, Price, Route, Routing, Snapshot  # noqa: E402
from usage.routing import AliasMemberSpec, AliasSpec  # noqa: E402

MESSAGES = [{"role": "user", "content": "Summarise the following text in one line. " * 20}]
PRICES = {
    "openai/gpt-4o-mini": ("0.00000015", "0.0000006"),
    "anthropic/claude-sonnet-4": ("0.000003", "0.000015"),
    "google/gemini-2.5-flash": ("0.0000003", "0.0000025"),
}


def main() -> None:
    prices = {
        model_id: Price(n, n, None, PriceSchedule.of({"prompt": Decimal(p), "completion": Decimal(c)}))
        for n, (model_id, (p, c)) in enumerate(PRICES.items(), start=1)
    }
    catalogue = Catalogue(frozenset(PRICES), prices)
    routes = (
        Route("openrouter", "http://127.0.0.1:1/api/v1", "", "OPENROUTER_API_KEY", "sk", True),
        Route("local", "http://127.0.0.1:2/v1", "local/", "", "", False),
    )
    members = tuple(AliasMemberSpec(m, w, None) for m, w in zip(PRICES, (3, 1, 2), strict=True))
    aliases = {
        f"team/{strategy}": AliasSpec(f"team/{strategy}", strategy, members)
        for strategy in ("ordered", "cheapest", "fastest", "weighted")
    }
    routing = Routing(routes, aliases, {"openai/gpt-4o-mini": 900, "google/gemini-2.5-flash": 400})
    snapshot = Snapshot(catalogue, routing)
    key = KeyInfo(1, "bench", "tl-bench", None, None, None, "monthly", None, None, (), False)
    rng = random.Random(1)

    def request(model: str, **more) -> tuple[bytes, dict]:
        body = {"model": model, "messages": MESSAGES, "temperature": 0, **more}
        return orjson.dumps(body), body

    cases = {
        "plain model to OpenRouter": request("openai/gpt-4o-mini"),
        "plain model to another upstream (prefix replaced)": request("local/qwen3-8b"),
        **{
            f"alias, {s}, 3 members": request(f"team/{s}")
            for s in ("ordered", "cheapest", "fastest", "weighted")
        },
    }
    print(f"{'what':58} {'µs per request':>15}")
    for label, (raw, body) in cases.items():

        def route(raw=raw, body=body) -> None:
            plan_request(check(raw, body, "chat/completions"), key, snapshot, max_attempts=3, rng=rng)

        print(f"{label:58} {per_call(route):15.1f}")
    raw, body = cases["plain model to OpenRouter"]

    def cache_check(body=body) -> None:
        if cache.deterministic(body):
            cache.cache_key("openrouter", "chat/completions", body)

    print(f"{'cache: deterministic() + cache_key()':58} {per_call(cache_check):15.1f}")
    metrics = Metrics()
    sample = LedgerRow(
        created_at=datetime.now(UTC), endpoint="chat/completions", status="ok", http_status=200,
        served_model="openai/gpt-4o-mini", prompt_tokens=120, completion_tokens=40,
        reported_cost=Decimal("0.0000066"), upstream_latency_ms=420,
    )  # fmt: skip
    print(f"{'metrics: observe()':58} {per_call(lambda: metrics.observe(sample, 'tl-bench')):15.1f}")


def per_call(function, seconds: float = 0.4) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    number = max(number, int(number * seconds / 0.2))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


if __name__ == "__main__":
    main()
