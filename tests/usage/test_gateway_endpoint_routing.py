"""The new endpoints through routing: an upstream serves the endpoints its admin row lists (OpenRouter all
of them, another upstream chat/completions and completions by default); an alias member on an upstream that
lacks the endpoint is skipped, with the reason in `meta`; with none left, a 502 naming the upstreams. And
streams of the new endpoints that break off or lose their client get an estimate, as chat streams do."""

from decimal import Decimal

import anthropic
import httpx
import pytest
from django.core.exceptions import ValidationError

from tests.fakes.openrouter import FakeOpenRouter, Reply, serve
from tests.usage.gateway_data import make_catalogue_with_local
from tests.usage.test_gateway_routing import make_alias
from usage.gateway.endpoints import BY_NAME
from usage.models import Upstream
from usage.routing import ALL_ENDPOINTS
from usage.services.upstreams import upstream_validate

MESSAGES = [{"role": "user", "content": "hi"}]
SKIPPED = {"model": "local/qwen3-8b", "reason": "Upstream 'local' does not serve /messages"}


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue_with_local()


@pytest.fixture
def vllm(catalogue, monkeypatch):
    fake = FakeOpenRouter(default=Reply(text="Hello from vLLM.", provider="", cost=None))
    server = serve(fake)
    Upstream.objects.create(name="local", base_url=fake.url, model_prefix="local/", enabled=True)
    yield fake
    server.stop()


@pytest.fixture
def secret(catalogue, make_api_key):
    return make_api_key()


def post(gateway_server, secret, path, body):
    headers = {"Authorization": f"Bearer {secret}"}
    return httpx.post(f"{gateway_server.api_url}/{path}", json=body, headers=headers, timeout=30)


def test_an_alias_member_whose_upstream_lacks_the_endpoint_is_skipped_with_the_reason(
    gateway_server, secret, vllm
):
    make_alias("team/claude", "ordered", "local/qwen3-8b", "anthropic/claude-sonnet-4")

    response = post(
        gateway_server, secret, "messages", {"model": "team/claude", "max_tokens": 9, "messages": MESSAGES}
    )

    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "Hello from the fake OpenRouter."
    assert gateway_server.fake.last.json["model"] == "anthropic/claude-sonnet-4"
    assert vllm.requests == []
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.requested_model, row.served_model, row.status) == (
        "messages",
        "team/claude",
        "anthropic/claude-sonnet-4",
        "ok",
    )
    assert (row.meta["alias"], row.meta["skipped"], row.meta["upstream"]) == (
        "team/claude",
        [SKIPPED],
        "openrouter",
    )


def test_with_no_member_left_the_answer_is_a_502_naming_the_upstreams(gateway_server, secret, vllm):
    make_alias("team/local", "ordered", "local/qwen3-8b")

    response = post(
        gateway_server, secret, "messages", {"model": "team/local", "max_tokens": 9, "messages": MESSAGES}
    )

    assert response.status_code == 502
    assert response.json()["error"] == {
        "type": "api_error",
        "message": "Upstream 'local' cannot serve /messages",
        "code": "endpoint_not_served",
    }
    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, row.error_code) == ("rejected", 502, "endpoint_not_served")
    assert row.meta == {"alias": "team/local", "strategy": "ordered", "skipped": [SKIPPED]}


def test_a_plain_model_on_an_upstream_without_the_endpoint_is_a_502(gateway_server, secret, vllm):
    response = post(gateway_server, secret, "responses", {"model": "local/qwen3-8b", "input": "hi"})

    assert response.status_code == 502
    assert response.json()["error"]["message"] == "Upstream 'local' cannot serve /responses"
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.status, row.error_code, row.meta) == (
        "responses",
        "rejected",
        "endpoint_not_served",
        {"upstream": "local"},
    )
    assert vllm.requests == []


def test_an_upstream_listing_the_endpoint_serves_it(gateway_server, secret, vllm):
    Upstream.objects.filter(name="local").update(endpoints="chat/completions, embeddings")

    response = post(gateway_server, secret, "embeddings", {"model": "local/qwen3-8b", "input": "hi"})

    assert response.status_code == 200
    assert vllm.last.path == "/api/v1/embeddings"
    assert vllm.last.json == {"model": "qwen3-8b", "input": "hi"}
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.served_model, row.provider, row.prompt_tokens) == (
        "embeddings",
        "local/qwen3-8b",
        "local",
        12,
    )
    assert row.computed_cost == Decimal("0.0000012")  # 12 × 0.0000001


def test_an_unknown_endpoint_name_is_refused_on_save(catalogue):
    upstream = Upstream(
        name="other", base_url="http://127.0.0.1:9/v1", model_prefix="other/", endpoints="messages, chat"
    )

    with pytest.raises(ValidationError) as caught:
        upstream_validate(upstream=upstream)

    assert caught.value.message_dict["endpoints"] == [
        "Unknown endpoint chat: choose among chat/completions, completions, messages, responses, embeddings."
    ]


def test_a_messages_stream_the_client_leaves_is_cancelled_with_an_estimate(gateway_server, secret):
    gateway_server.fake.reply(text="abcdefgh" * 4, chunks=4, chunk_delay=0.3)
    client = anthropic.Anthropic(base_url=f"{gateway_server.url}/api", api_key=secret, max_retries=0)
    body = {
        "model": "anthropic/claude-sonnet-4",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "x" * 40}],
    }

    with client.messages.stream(**body) as stream:
        for _text in stream.text_stream:
            break  # the first piece (8 characters), then leave
    assert gateway_server.fake.wait_closed_early(1)

    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.status, row.http_status, row.cost_state) == (
        "messages",
        "cancelled",
        499,
        "estimated",
    )
    # message_start's usage (12 input tokens, 1 output) merged with what was relayed: 8 characters → 2 tokens
    assert (row.prompt_tokens, row.completion_tokens) == (10, 2)
    assert row.computed_cost == Decimal("0.00006")  # 10 × 0.000003 + 2 × 0.000015


def test_a_messages_stream_error_event_makes_the_row_an_error(gateway_server, secret):
    gateway_server.fake.reply(stream_error="Provider disconnected")
    client = anthropic.Anthropic(base_url=f"{gateway_server.url}/api", api_key=secret, max_retries=0)

    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(model="anthropic/claude-sonnet-4", max_tokens=10, messages=MESSAGES) as stream,
    ):
        stream.get_final_message()

    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, row.error_code, row.error_message) == (
        "error",
        200,
        "api_error",
        "Provider disconnected",
    )


def test_the_endpoints_an_upstream_may_list_are_those_the_gateway_serves():
    assert set(BY_NAME) == set(ALL_ENDPOINTS)
