"""GET /metrics: Prometheus text behind a bearer token, counting the gateway's requests exactly."""

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.usage.gateway_data import make_catalogue
from usage.gateway.app import gateway
from usage.gateway.metrics import Metrics
from usage.gateway.row import LedgerRow
from usage.models import ApiKey

MESSAGES = [{"role": "user", "content": "hi"}]
TOKEN = "metrics-secret-token"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture(autouse=True)
def fresh_metrics():
    """The gateway is a module singleton: each test counts from zero."""
    gateway.metrics = Metrics()


@pytest.fixture
def secret(transactional_db, make_api_key, member):
    make_catalogue()
    return make_api_key(owner=member, name="member key")


@pytest.fixture
def client(gateway_server, secret):
    return openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)


def scrape(gateway_server) -> httpx.Response:
    return httpx.get(f"{gateway_server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted label pairs): value} of an exposition text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def families(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_it_counts_requests_errors_tokens_cost_and_latency(gateway_server, client, settings):
    settings.METRICS_TOKEN = TOKEN
    prefix = ApiKey.objects.get().prefix
    fake = gateway_server.fake
    fake.reply(headers_delay=0.3)  # upstream latency in (0.25 s, 0.5 s]
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    fake.reply(headers_delay=1.2)  # (1 s, 2.5 s]
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    fake.reply(status=429, headers_delay=0.6)  # (0.5 s, 1 s]
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="nobody/no-such-model", messages=MESSAGES)
    gateway_server.ledger(4)  # every row recorded, so observed

    response = scrape(gateway_server)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    assert families(text) == {
        "tokenledger_requests": "counter",
        "tokenledger_errors": "counter",
        "tokenledger_tokens": "counter",
        "tokenledger_cost_usd": "counter",
        "tokenledger_upstream_latency_seconds": "histogram",
        "tokenledger_ledger_queue_depth": "gauge",
        "tokenledger_ledger_rows_written": "counter",
        "tokenledger_ledger_rows_spilled": "counter",
        "tokenledger_ledger_dead_letter_rows": "gauge",
        "tokenledger_alert_deliveries_failed": "gauge",
        "tokenledger_keyless_refusals": "counter",
        "tokenledger_event_loop_lag_max_seconds": "gauge",
    }
    found = samples(text)

    def family(name):
        return {labels: value for (sample, labels), value in found.items() if sample == name}

    unknown = "nobody/no-such-model"
    assert family("tokenledger_requests_total") == {
        (("key_prefix", prefix), ("model", MODEL), ("status", "ok")): 2.0,
        (("key_prefix", prefix), ("model", MODEL), ("status", "error")): 1.0,
        (("key_prefix", prefix), ("model", unknown), ("status", "rejected")): 1.0,
    }
    assert family("tokenledger_errors_total") == {
        (("code", "429"), ("key_prefix", prefix), ("model", MODEL)): 1.0,
        (("code", "unknown_model"), ("key_prefix", prefix), ("model", unknown)): 1.0,
    }
    assert family("tokenledger_tokens_total") == {
        (("key_prefix", prefix), ("kind", "prompt"), ("model", MODEL)): 24.0,  # 12 per ok request
        (("key_prefix", prefix), ("kind", "completion"), ("model", MODEL)): 16.0,  # 8 per ok request
    }
    assert family("tokenledger_cost_usd_total") == {(("key_prefix", prefix), ("model", MODEL)): 0.0000132}
    buckets = family("tokenledger_upstream_latency_seconds_bucket")
    assert {dict(labels)["le"]: value for labels, value in buckets.items()} == {
        "0.05": 0.0,
        "0.1": 0.0,
        "0.25": 0.0,
        "0.5": 1.0,
        "1": 2.0,
        "2.5": 3.0,
        "5": 3.0,
        "10": 3.0,
        "30": 3.0,
        "60": 3.0,
        "+Inf": 3.0,
    }
    assert {dict(labels)["upstream"] for labels in buckets} == {"openrouter"}
    assert family("tokenledger_upstream_latency_seconds_count") == {(("upstream", "openrouter"),): 3.0}
    [latency_sum] = family("tokenledger_upstream_latency_seconds_sum").values()
    assert 2.1 <= latency_sum < 2.5
    assert family("tokenledger_ledger_queue_depth") == {(): 0.0}
    assert family("tokenledger_ledger_rows_written_total") == {(): 4.0}
    assert family("tokenledger_ledger_rows_spilled_total") == {(): 0.0}
    assert family("tokenledger_ledger_dead_letter_rows") == {(): 0.0}


def test_it_answers_404_when_no_token_is_set(gateway_server, settings):
    settings.METRICS_TOKEN = ""

    response = httpx.get(f"{gateway_server.url}/metrics", headers={"Authorization": "Bearer anything"})

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": 404, "message": "No such endpoint: /metrics", "metadata": {}, "type": "404"}
    }


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}])
def test_it_answers_401_without_the_right_token(gateway_server, settings, headers):
    settings.METRICS_TOKEN = TOKEN

    response = httpx.get(f"{gateway_server.url}/metrics", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Missing or wrong metrics token"
    assert response.json()["error"]["code"] == 401


def test_it_answers_405_to_a_post(gateway_server, settings):
    settings.METRICS_TOKEN = TOKEN

    response = httpx.post(f"{gateway_server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 405
    assert response.json()["error"]["message"] == "Use GET for /metrics"


def test_other_paths_still_go_to_django(gateway_server, settings):
    settings.METRICS_TOKEN = TOKEN

    response = httpx.get(f"{gateway_server.url}/metrics/", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")  # Django's page, not the gateway's JSON


# ---- Metrics on its own ----


def row_of(**fields) -> LedgerRow:
    return LedgerRow(created_at=datetime(2026, 12, 1, tzinfo=UTC), endpoint="chat/completions", **fields)


def render(metrics: Metrics) -> str:
    return metrics.render(pending=0, written=0, spilled=0).decode()


def test_label_values_are_escaped_and_parse_back():
    metrics = Metrics()
    metrics.observe(row_of(requested_model='a\\b"c\nd', status="ok", prompt_tokens=3), 'k"1')

    text = render(metrics)

    assert 'tokenledger_requests_total{model="a\\\\b\\"c\\nd",key_prefix="k\\"1",status="ok"} 1\n' in text
    assert (
        samples(text)[
            ("tokenledger_tokens_total", (("key_prefix", 'k"1'), ("kind", "prompt"), ("model", 'a\\b"c\nd')))
        ]
        == 3.0
    )


def test_the_served_model_wins_and_reported_cost_wins_over_computed():
    metrics = Metrics()
    fields = {
        "requested_model": "team/fast",
        "served_model": "openai/gpt-4o-mini",
        "status": "ok",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "cached_tokens": 60,
        "reasoning_tokens": 5,
        "reported_cost": Decimal("0.1"),
        "computed_cost": Decimal("0.5"),
        "upstream_latency_ms": 50,
        "meta": {"upstream": "local-vllm"},
    }
    metrics.observe(row_of(**fields), "tl_abc")
    metrics.observe(row_of(**(fields | {"reported_cost": None, "computed_cost": Decimal("0.2")})), "tl_abc")
    metrics.observe(row_of(requested_model="x/y", status="cached", reported_cost=Decimal(0)), "")

    found = samples(render(metrics))

    labels = (("key_prefix", "tl_abc"), ("model", "openai/gpt-4o-mini"))
    assert found[("tokenledger_requests_total", (*labels, ("status", "ok")))] == 2.0
    assert (
        found[("tokenledger_requests_total", (("key_prefix", ""), ("model", "x/y"), ("status", "cached")))]
        == 1
    )
    assert metrics.cost.values == {("openai/gpt-4o-mini", "tl_abc"): Decimal("0.3")}  # kept exact
    assert found[("tokenledger_cost_usd_total", labels)] == 0.3
    kinds = {"prompt": 200.0, "completion": 40.0, "cached": 120.0, "reasoning": 10.0}
    for kind, count in kinds.items():
        key = (("key_prefix", "tl_abc"), ("kind", kind), ("model", "openai/gpt-4o-mini"))
        assert found[("tokenledger_tokens_total", key)] == count
    assert not [k for k in found if k[0] == "tokenledger_errors_total"]
    # 50 ms is in the first bucket (le is inclusive)
    assert (
        found[("tokenledger_upstream_latency_seconds_bucket", (("le", "0.05"), ("upstream", "local-vllm")))]
        == 2
    )
    assert found[("tokenledger_upstream_latency_seconds_sum", (("upstream", "local-vllm"),))] == 0.1


def test_an_error_without_a_code_is_counted_under_its_http_status():
    metrics = Metrics()
    metrics.observe(row_of(requested_model="m/x", status="error", http_status=502), "p")
    metrics.observe(row_of(status="rejected", http_status=401, error_code="invalid_key"), "")

    assert metrics.errors.values == {("m/x", "p", "502"): 1, ("", "", "invalid_key"): 1}


def test_new_label_sets_past_the_limit_are_counted_as_other():
    metrics = Metrics(max_series=3)
    for n in range(5):
        metrics.observe(row_of(requested_model=f"m/{n}", status="ok"), "p")
    metrics.observe(row_of(requested_model="m/0", status="ok"), "p")

    assert metrics.requests.values == {
        ("m/0", "p", "ok"): 2,
        ("m/1", "p", "ok"): 1,
        ("m/2", "p", "ok"): 1,
        ("other", "p", "ok"): 2,
    }


def test_past_twice_the_limit_new_label_sets_share_one_series():
    metrics = Metrics(max_series=2)
    for model, prefix in [
        ("m/0", "p"),
        ("m/1", "p"),
        ("m/2", "q1"),
        ("m/3", "q2"),
        ("m/4", "q3"),
        ("m/5", "q1"),
    ]:
        metrics.observe(row_of(requested_model=model, status="ok"), prefix)

    assert metrics.requests.values == {
        ("m/0", "p", "ok"): 1,
        ("m/1", "p", "ok"): 1,
        ("other", "q1", "ok"): 2,
        ("other", "q2", "ok"): 1,
        ("other", "other", "other"): 1,
    }
    assert (
        samples(render(metrics))[
            ("tokenledger_requests_total", (("key_prefix", "other"), ("model", "other"), ("status", "other")))
        ]
        == 1.0
    )


def test_refusals_without_a_known_key_are_counted_by_reason(gateway_server, settings):
    settings.METRICS_TOKEN = TOKEN
    for headers in ({}, {"Authorization": "Bearer tl-nope"}, {"Authorization": "Bearer tl-nope"}):
        assert httpx.get(f"{gateway_server.api_url}/key", headers=headers).status_code == 401
    assert httpx.get(f"{gateway_server.api_url}/key", headers={"Host": "evil.example"}).status_code == 400

    found = samples(scrape(gateway_server).text)

    assert {k: v for k, v in found.items() if k[0] == "tokenledger_keyless_refusals_total"} == {
        ("tokenledger_keyless_refusals_total", (("reason", "missing_key"),)): 1.0,
        ("tokenledger_keyless_refusals_total", (("reason", "invalid_key"),)): 2.0,
        ("tokenledger_keyless_refusals_total", (("reason", "bad_host"),)): 1.0,
    }
    assert found[("tokenledger_event_loop_lag_max_seconds", ())] >= 0


def test_the_event_loop_lag_is_its_longest_stall_of_the_last_minute():
    from usage.gateway.metrics import LoopLag

    lag = LoopLag()

    async def stall():
        lag.start()
        await asyncio.sleep(0.25)
        time.sleep(0.3)  # the loop is blocked: the next tick runs 0.3 s late at least
        await asyncio.sleep(0.25)
        lag.stop()

    asyncio.run(stall())

    assert 300 - 1000 * LoopLag.TICK <= lag.max_ms() < 1000  # a stall shows, less the time to the next tick
