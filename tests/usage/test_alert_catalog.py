"""Catalogue-change alerts: two real snapshots synced (2026-04-21, then 2026-05-01), with ledger traffic on a
model the second one reprices and on one it retires. The sync's end raises one alert per model touched,
with the % change per category and the dollar impact, computed here from the snapshot's prices."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from catalog.services.sync import catalog_sync
from tests.catalog.sync_data import entries
from usage.models import Alert, AlertChannel, AlertRule, LedgerEntry

from .spend_data import entry, make_key

pytestmark = pytest.mark.django_db

FIRST, SECOND = "models-2026-04-21.data-array.json", "models-2026-05-01.data-array.json"
T1, T2 = datetime(2026, 4, 21, 9, tzinfo=UTC), datetime(2026, 5, 1, 9, tzinfo=UTC)
REPRICED, RETIRED = "qwen/qwen-2.5-72b-instruct", "qwen/qwq-32b"
USAGE = [(1000, 500), (3000, 1000)]  # (prompt, completion) tokens of the two requests in the 30 days


def prices(snapshot: str, model_id: str) -> dict[str, Decimal]:
    [model] = [m for m in entries(snapshot) if m["id"] == model_id]
    return {name: Decimal(value) for name, value in model["pricing"].items()}


def cost(price: dict, prompt: int, completion: int) -> Decimal:
    return prompt * price["prompt"] + completion * price["completion"]


@pytest.fixture
def slack(http_receiver):
    return AlertChannel.objects.create(name="slack", kind="slack", target=f"{http_receiver.url}/slack")


def test_a_sync_alerts_on_repriced_and_retired_models_with_traffic(
    slack, http_receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert catalog_sync(payload=entries(FIRST), source=FIRST, now=T1).status == "ok"
    rule = AlertRule.objects.create(name="catalogue", kind="catalog_change")
    rule.channels.add(slack)
    alpha, beta = make_key("alpha"), make_key("beta")
    old = prices(FIRST, REPRICED)
    for (prompt, completion), day in zip(USAGE, (25, 28), strict=True):
        billed = cost(old, prompt, completion)
        entry(
            datetime(2026, 4, day, 10, tzinfo=UTC),
            api_key=alpha,
            model=REPRICED,
            prompt_tokens=prompt,
            completion_tokens=completion,
            reported_cost=billed,
            computed_cost=billed,
        )
    entry(T2 - timedelta(days=30, hours=1), api_key=alpha, model=REPRICED, prompt_tokens=10**6)  # too old
    entry(datetime(2026, 4, 22, tzinfo=UTC), api_key=beta, model=RETIRED, reported_cost=Decimal("0.01"))
    entry(datetime(2026, 4, 23, tzinfo=UTC), api_key=alpha, model=RETIRED, reported_cost=Decimal("0.01"))
    entry(datetime(2026, 4, 23, tzinfo=UTC), api_key=alpha, model=RETIRED, status=LedgerEntry.Status.REJECTED)

    with django_capture_on_commit_callbacks(execute=True):
        run = catalog_sync(payload=entries(SECOND), source=SECOND, now=T2)
    assert (run.status, run.repriced, run.retired) == ("ok", 32, 4)

    new = prices(SECOND, REPRICED)
    billed = sum(cost(old, p, c) for p, c in USAGE)
    at_new = sum(cost(new, p, c) for p, c in USAGE)
    assert (billed, at_new) == (Decimal("0.001065"), Decimal("0.00204"))  # the text shows 3 digits: $0.00107
    assert at_new - billed == Decimal("0.000975")
    assert ((at_new - billed) / billed * 100).quantize(Decimal("0.1")) == Decimal("91.5")
    assert (new["prompt"] / old["prompt"], old["prompt"], new["prompt"]) == (
        3,
        Decimal("1.2E-7"),
        Decimal("3.6E-7"),
    )
    repriced_text = (
        "The catalogue sync of 2026-05-01 09:00 UTC changed the prices of qwen/qwen-2.5-72b-instruct:\n"
        "- Input: $0.12 → $0.36 per 1M tokens (+200.0%)\n"
        "- Output: $0.39 → $0.40 per 1M tokens (+2.6%)\n"
        "Your last 30 days on it: 2 requests, which cost $0.00107; at the new prices they would have cost"
        " $0.00204 (+$0.000975, +91.5%)."
    )
    retired_text = (
        "The catalogue sync of 2026-05-01 09:00 UTC no longer lists qwen/qwq-32b: it is retired. In the last 30"
        " days it served 2 requests, for these keys: alpha (tl-alpha…), beta (tl-beta…)."
    )
    alerts = [(a.event, a.subject, a.title, a.message) for a in Alert.objects.order_by("pk")]
    assert alerts == [
        (
            "fired",
            f"model:{REPRICED}",
            "Model qwen/qwen-2.5-72b-instruct repriced: +$0.000975 on your last 30 days",
            repriced_text,
        ),
        ("fired", f"model:{RETIRED}", "Model qwen/qwq-32b retired", retired_text),
    ]
    texts = sorted(json.loads(request.body)["text"] for request in http_receiver.requests)
    assert texts == sorted(
        [
            f"*Model qwen/qwen-2.5-72b-instruct repriced: +$0.000975 on your last 30 days*\n{repriced_text}",
            f"*Model qwen/qwq-32b retired*\n{retired_text}",
        ]
    )
    rule.refresh_from_db()
    assert rule.last_sync_run_id == run.pk
    with django_capture_on_commit_callbacks(execute=True):  # the same listing again: nothing changed
        assert catalog_sync(payload=entries(SECOND), source=SECOND, now=T2 + timedelta(hours=1)).repriced == 0
    assert Alert.objects.count() == 2
