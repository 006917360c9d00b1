"""POST /api/v1/responses (OpenAI's Responses API) and POST /api/v1/embeddings through the gateway with the
official openai SDK: replies relayed as sent, one exact ledger row each."""

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest

from catalog.models import CatalogModel, PriceVersion
from tests.usage.gateway_data import make_catalogue

MODEL = "openai/gpt-4o-mini"
EMBEDDER = "openai/text-embedding-3-small"


@pytest.fixture
def catalogue(transactional_db):
    versions = make_catalogue()
    since = datetime(2026, 1, 1, tzinfo=UTC)
    model = CatalogModel.objects.create(
        model_id=EMBEDDER, author="openai", name="Text Embedding 3 Small", first_seen=since, last_seen=since
    )
    versions[EMBEDDER] = PriceVersion.objects.create(
        catalog_model=model, valid_from=since, prompt=Decimal("0.00000002"), completion=Decimal(0)
    )
    return versions


@pytest.fixture
def secret(catalogue, make_api_key, member):
    return make_api_key(owner=member, name="responses key")


@pytest.fixture
def client(gateway_server, secret):
    return openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)


USAGE = dict(prompt_tokens=500, cached_tokens=200, completion_tokens=60, reasoning_tokens=20, cost="0.000096")
# 300 × 0.00000015 + 200 × 0.000000075 + 60 × 0.0000006 (reasoning billed as completion)
COST = Decimal("0.000096")


def test_responses_create_is_relayed_and_logged(gateway_server, client, catalogue):
    gateway_server.fake.reply(text="Hi there.", **USAGE)

    response = client.responses.create(model=MODEL, input="Say hi", max_output_tokens=100)

    assert response.output_text == "Hi there."
    assert (response.usage.input_tokens, response.usage.input_tokens_details.cached_tokens) == (500, 200)
    assert gateway_server.fake.last.path == "/api/v1/responses"
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.requested_model, row.served_model, row.generation_id) == (
        "responses",
        MODEL,
        MODEL,
        "gen-fake-1",
    )
    assert (row.status, row.http_status, row.stream, row.finish_reason) == ("ok", 200, False, "completed")
    assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens, row.reasoning_tokens) == (
        500,
        200,
        60,
        20,
    )
    assert (row.reported_cost, row.computed_cost) == (COST, COST)
    assert row.price_version == catalogue[MODEL]
    assert row.extra_usage == {}


def test_a_responses_stream_is_relayed_event_by_event_and_logged_from_response_completed(
    gateway_server, client
):
    gateway_server.fake.reply(text="Hello, stream.", chunks=3, **USAGE)

    events = list(
        client.responses.create(model=MODEL, input=[{"role": "user", "content": "hi"}], stream=True)
    )

    kinds = [event.type for event in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 3
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hello, stream."
    assert events[-1].response.usage.output_tokens_details.reasoning_tokens == 20
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.stream, row.status, row.http_status) == ("responses", True, "ok", 200)
    assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens, row.reasoning_tokens) == (
        500,
        200,
        60,
        20,
    )
    assert (row.reported_cost, row.computed_cost) == (COST, COST)
    assert row.ttft_ms is not None


def test_unknown_fields_go_upstream_and_its_answer_is_relayed(gateway_server, client):
    message = "previous_response_id is not supported"
    gateway_server.fake.reply(status=400, message=message)

    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="again", previous_response_id="resp_123")

    assert caught.value.status_code == 400
    assert caught.value.body["message"] == message
    assert gateway_server.fake.last.json["previous_response_id"] == "resp_123"
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.status, row.http_status, row.error_code, row.error_message) == (
        "responses",
        "error",
        400,
        "400",
        message,
    )


def test_responses_refusals_are_in_openais_shape(gateway_server, catalogue, make_api_key):
    bad = openai.OpenAI(base_url=gateway_server.api_url, api_key="tl-unknown", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model=MODEL, input="hi")
    secret = make_api_key(allowed_models=["anthropic/*"])
    limited = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        limited.responses.create(model=MODEL, input="hi")
    response = httpx.post(
        f"{gateway_server.api_url}/responses",
        json={"model": MODEL, "input": 7},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "`input` must be a string or an array of input items"
    rows = gateway_server.ledger(2)
    assert [(r.endpoint, r.status, r.http_status, r.error_code) for r in rows] == [
        ("responses", "rejected", 403, "model_not_allowed"),
        ("responses", "rejected", 400, "invalid_request"),
    ]
    assert gateway_server.fake.requests == []


@pytest.mark.parametrize(
    ("value", "vectors"),
    [("one text", 1), (["first", "second", "third"], 3), ([101, 2023, 102], 1), ([[101, 7], [101, 8]], 2)],
)
def test_embeddings_of_strings_lists_and_token_ids_are_logged(
    gateway_server, client, catalogue, value, vectors
):
    gateway_server.fake.reply(prompt_tokens=42, cost="0.00000084")

    result = client.embeddings.create(model=EMBEDDER, input=value)

    assert len(result.data) == vectors
    assert result.usage.prompt_tokens == 42
    assert gateway_server.fake.last.json["input"] == value
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.requested_model, row.served_model, row.status, row.stream) == (
        "embeddings",
        EMBEDDER,
        EMBEDDER,
        "ok",
        False,
    )
    assert (row.prompt_tokens, row.completion_tokens) == (42, 0)
    assert row.reported_cost == Decimal("0.00000084")
    assert row.computed_cost == Decimal("0.00000084")  # 42 × 0.00000002
    assert row.price_version == catalogue[EMBEDDER]


def test_embeddings_are_cached_whenever_caching_is_asked_for(gateway_server, catalogue, make_api_key):
    secret = make_api_key(cache_responses=True)
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)
    gateway_server.fake.reply(prompt_tokens=42, cost="0.00000084")

    first = client.embeddings.with_raw_response.create(model=EMBEDDER, input="same text")
    gateway_server.settled()
    second = client.embeddings.with_raw_response.create(model=EMBEDDER, input="same text")

    assert (first.headers["x-tokenledger-cache"], second.headers["x-tokenledger-cache"]) == ("miss", "hit")
    assert second.parse().data[0].embedding == first.parse().data[0].embedding
    assert len(gateway_server.fake.requests) == 1
    rows = gateway_server.ledger(2)
    assert [(r.endpoint, r.status, r.prompt_tokens, r.computed_cost) for r in rows] == [
        ("embeddings", "ok", 42, Decimal("0.00000084")),
        ("embeddings", "cached", 42, Decimal(0)),
    ]
    assert Decimal(rows[1].meta["saved_cost"]) == Decimal("0.00000084")


def test_a_bad_embeddings_input_is_a_400(gateway_server, secret):
    response = httpx.post(
        f"{gateway_server.api_url}/embeddings",
        json={"model": EMBEDDER, "input": [1, "mixed"]},
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.status, row.error_code) == ("embeddings", "rejected", "invalid_request")
