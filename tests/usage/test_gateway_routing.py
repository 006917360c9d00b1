"""Routing through the gateway with the openai SDK: aliases, strategies, fallback, a second upstream."""

from decimal import Decimal

import httpx
import openai
import orjson
import pytest

from tests.conftest import free_port
from tests.fakes.openrouter import FakeOpenRouter, Reply, serve
from tests.usage.gateway_data import make_catalogue_with_local
from usage.models import Alias, AliasMember, Upstream

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue_with_local()


@pytest.fixture
def vllm(catalogue, monkeypatch):
    """A second fake on its own port as a vLLM server: upstream "local" for model ids "local/...", keyed."""
    fake = FakeOpenRouter(default=Reply(text="Hello from vLLM.", provider="", cost=None))
    server = serve(fake)
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret-123")
    Upstream.objects.create(
        name="local", base_url=fake.url, api_key_env="VLLM_API_KEY", model_prefix="local/", enabled=True
    )
    yield fake
    server.stop()


@pytest.fixture
def secret(catalogue, make_api_key, member):
    return make_api_key(owner=member, name="member key")


@pytest.fixture
def client(gateway_server, secret):
    return openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)


def make_alias(name: str, strategy: str, *members: str | tuple[str, int, str | None]) -> Alias:
    alias = Alias.objects.create(name=name, strategy=strategy)
    for position, member in enumerate(members):
        model, weight, ceiling = member if isinstance(member, tuple) else (member, 1, None)
        AliasMember.objects.create(
            alias=alias,
            position=position,
            model=model,
            weight=weight,
            max_price_per_million=None if ceiling is None else Decimal(ceiling),
        )
    return alias


def attempts_without_times(row) -> list[dict]:
    attempts = row.meta["attempts"]
    assert all(isinstance(attempt.pop("ms"), int) for attempt in attempts)
    return attempts


def test_an_alias_falls_back_to_the_second_upstream_when_the_first_answers_429(
    gateway_server, client, vllm, catalogue
):
    make_alias("team/fast", "ordered", "openai/gpt-4o-mini", "local/qwen3-8b")
    gateway_server.fake.reply(status=429)

    reply = client.chat.completions.create(model="team/fast", messages=MESSAGES)

    assert reply.choices[0].message.content == "Hello from vLLM."
    assert gateway_server.fake.last.json["model"] == "openai/gpt-4o-mini"
    assert "models" not in gateway_server.fake.last.json
    assert vllm.last.json == {"model": "qwen3-8b", "messages": MESSAGES}  # our prefix stripped
    assert vllm.last.headers["authorization"] == "Bearer vllm-secret-123"
    assert "x-title" not in vllm.last.headers  # OpenRouter's attribution headers go to OpenRouter only
    [row] = gateway_server.ledger(1)
    assert (row.requested_model, row.served_model, row.provider, row.status, row.http_status) == (
        "team/fast",
        "local/qwen3-8b",
        "local",
        "ok",
        200,
    )
    assert row.computed_cost == Decimal("0.0000028")  # 12 × 0.0000001 + 8 × 0.0000002
    assert row.price_version == catalogue["local/qwen3-8b"]
    assert (row.meta["alias"], row.meta["strategy"], row.meta["upstream"]) == (
        "team/fast",
        "ordered",
        "local",
    )
    assert attempts_without_times(row) == [
        {
            "upstream": "openrouter",
            "model": "openai/gpt-4o-mini",
            "status": 429,
            "error": "Rate limit exceeded",
        },
        {"upstream": "local", "model": "local/qwen3-8b", "status": 200},
    ]


def test_consecutive_openrouter_members_go_as_one_attempt_with_openrouters_models_array(
    gateway_server, client, catalogue
):
    make_alias("team/smart", "ordered", "anthropic/claude-sonnet-4", "openai/gpt-4o-mini")
    gateway_server.fake.reply(model="openai/gpt-4o-mini")  # OpenRouter fell back to the second itself

    client.chat.completions.create(model="team/smart", messages=MESSAGES)

    sent = gateway_server.fake.last.json
    assert (sent["model"], sent["models"]) == (
        "anthropic/claude-sonnet-4",
        ["anthropic/claude-sonnet-4", "openai/gpt-4o-mini"],
    )
    [row] = gateway_server.ledger(1)
    assert (row.requested_model, row.served_model, row.price_version) == (
        "team/smart",
        "openai/gpt-4o-mini",
        catalogue["openai/gpt-4o-mini"],
    )
    assert attempts_without_times(row) == [
        {
            "upstream": "openrouter",
            "model": "anthropic/claude-sonnet-4",
            "models": ["anthropic/claude-sonnet-4", "openai/gpt-4o-mini"],
            "status": 200,
        }
    ]


def test_cheapest_puts_the_cheaper_model_first_and_a_price_ceiling_skips_a_member(
    gateway_server, client, vllm, catalogue
):
    # 1 input token (2 characters / 4, rounded up), 100 output: blended per 1M tokens
    # claude 3 + 100 × 15 / 101 → 14.88..., gpt-4o-mini 0.59..., local 0.198...
    make_alias(
        "team/cheap",
        "cheapest",
        ("anthropic/claude-sonnet-4", 1, "10"),
        "openai/gpt-4o-mini",
        "local/qwen3-8b",
    )

    client.chat.completions.create(model="team/cheap", messages=MESSAGES, max_tokens=100)

    assert vllm.last.json["model"] == "qwen3-8b"
    assert gateway_server.fake.requests == []
    [row] = gateway_server.ledger(1)
    assert row.served_model == "local/qwen3-8b"
    assert row.meta["strategy"] == "cheapest"
    assert [s["model"] for s in row.meta["skipped"]] == ["anthropic/claude-sonnet-4"]
    assert [attempt["model"] for attempt in attempts_without_times(row)] == ["local/qwen3-8b"]


def test_model_as_a_list_is_an_ordered_alias(gateway_server, secret, vllm):
    gateway_server.fake.reply(status=503)
    body = {"model": ["openai/gpt-4o-mini", "local/qwen3-8b"], "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {secret}"}

    response = httpx.post(f"{gateway_server.api_url}/chat/completions", json=body, headers=headers)

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello from vLLM."
    [row] = gateway_server.ledger(1)
    assert (row.requested_model, row.served_model) == ("openai/gpt-4o-mini,local/qwen3-8b", "local/qwen3-8b")
    assert (row.meta["alias"], row.meta["strategy"]) == (None, "ordered")
    assert [(a["upstream"], a["status"]) for a in attempts_without_times(row)] == [
        ("openrouter", 503),
        ("local", 200),
    ]


def test_a_stream_that_has_started_is_never_retried(gateway_server, client, vllm):
    make_alias("team/fast", "ordered", "openai/gpt-4o-mini", "local/qwen3-8b")
    gateway_server.fake.reply(stream_error="Provider disconnected")

    chunks = []
    with pytest.raises(openai.APIError, match="Provider disconnected"):
        chunks.extend(client.chat.completions.create(model="team/fast", messages=MESSAGES, stream=True))

    assert chunks[0].choices[0].delta.role == "assistant"
    assert vllm.requests == []
    [row] = gateway_server.ledger(1)
    assert (row.status, row.error_message, row.meta["upstream"]) == (
        "error",
        "Provider disconnected",
        "openrouter",
    )
    assert len(row.meta["attempts"]) == 1


def test_a_stream_falls_back_before_its_first_byte(gateway_server, client, vllm):
    make_alias("team/fast", "ordered", "openai/gpt-4o-mini", "local/qwen3-8b")
    gateway_server.fake.reply(status=502)

    chunks = list(client.chat.completions.create(model="team/fast", messages=MESSAGES, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from vLLM."
    [row] = gateway_server.ledger(1)
    assert (row.status, row.stream, row.served_model, row.completion_tokens) == (
        "ok",
        True,
        "local/qwen3-8b",
        8,
    )
    assert [(a["upstream"], a["status"]) for a in attempts_without_times(row)] == [
        ("openrouter", 502),
        ("local", 200),
    ]


def test_the_attempt_limit_bounds_the_fallbacks(gateway_server, client, vllm, settings):
    settings.GATEWAY_MAX_ATTEMPTS = 1
    from usage.gateway.app import gateway

    gateway.max_attempts = 1
    make_alias("team/fast", "ordered", "openai/gpt-4o-mini", "local/qwen3-8b")
    gateway_server.fake.reply(status=429)

    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="team/fast", messages=MESSAGES)

    assert vllm.requests == []
    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, len(row.meta["attempts"])) == ("error", 429, 1)
    gateway.max_attempts = 3


def test_raw_completions_reach_the_second_upstream_byte_identical_and_come_back_unchanged(
    gateway_server, secret, vllm
):
    # token-difr's request: token ids as the prompt, prompt logprobs, no generation.
    body = (
        b'{"model":"local/qwen3-8b","prompt":[[151644,872,198,9707,0]],"max_tokens":0,'
        b'"echo":true,"logprobs":1,"prompt_logprobs":5,"temperature":0.0}'
    )
    reply = (
        b'{"id":"cmpl-1","object":"text_completion","model":"qwen3-8b","choices":[{"index":0,"text":"",'
        b'"logprobs":null,"finish_reason":"length","prompt_logprobs":[null,{"872":{"logprob":-0.125,'
        b'"rank":1,"decoded_token":"user"}},{"198":{"logprob":-1.5e-05,"rank":1,"decoded_token":"\\n"}}]}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}'
    )
    vllm.reply(raw=reply)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    response = httpx.post(f"{gateway_server.api_url}/completions", content=body, headers=headers)

    assert response.status_code == 200
    assert response.content == reply
    assert vllm.last.path == "/api/v1/completions"
    assert vllm.last.body == body.replace(b'"local/qwen3-8b"', b'"qwen3-8b"')
    [row] = gateway_server.ledger(1)
    assert (row.endpoint, row.requested_model, row.served_model, row.provider) == (
        "completions",
        "local/qwen3-8b",
        "local/qwen3-8b",
        "local",
    )
    assert (row.prompt_tokens, row.completion_tokens, row.computed_cost) == (5, 0, Decimal("0.0000005"))
    assert row.meta == {"upstream": "local", "attempts": row.meta["attempts"]}


def test_with_strip_prefix_off_the_whole_body_arrives_byte_identical(gateway_server, secret, vllm):
    Upstream.objects.filter(name="local").update(strip_prefix=False)
    body = b'{"model":"local/qwen3-8b","prompt":[1,2,3],"max_tokens":0,"echo":true,"prompt_logprobs":1}'
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    response = httpx.post(f"{gateway_server.api_url}/completions", content=body, headers=headers)

    assert response.status_code == 200
    assert vllm.last.body == body
    [row] = gateway_server.ledger(1)
    assert (row.served_model, row.status) == ("local/qwen3-8b", "ok")


def test_a_models_list_without_model_goes_to_the_first_ones_upstream(gateway_server, secret, vllm):
    body = {"models": ["local/qwen3-8b"], "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {secret}"}

    response = httpx.post(f"{gateway_server.api_url}/chat/completions", json=body, headers=headers)

    assert response.status_code == 200
    assert vllm.last.json == {"models": ["local/qwen3-8b"], "messages": MESSAGES, "model": "qwen3-8b"}
    gateway_server.ledger(1)


def test_a_missing_key_variable_is_a_502_naming_the_upstream_and_the_variable(
    gateway_server, client, vllm, monkeypatch
):
    monkeypatch.delenv("VLLM_API_KEY")

    with pytest.raises(openai.APIStatusError) as error:
        client.chat.completions.create(model="local/qwen3-8b", messages=MESSAGES)

    assert error.value.status_code == 502
    message = "Upstream 'local' has no API key: the environment variable VLLM_API_KEY is not set"
    assert error.value.body["message"] == message
    assert vllm.requests == []
    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, row.error_code, row.error_message) == (
        "error",
        502,
        "upstream_key_missing",
        message,
    )


def test_an_unreachable_upstream_is_a_502_naming_it_and_never_its_key(gateway_server, client, vllm):
    Upstream.objects.filter(name="local").update(base_url=f"http://127.0.0.1:{free_port()}/v1")

    with pytest.raises(openai.APIStatusError) as error:
        client.chat.completions.create(model="local/qwen3-8b", messages=MESSAGES)

    assert error.value.status_code == 502
    assert error.value.body["message"] == "Upstream 'local' unreachable: Connection refused"
    [row] = gateway_server.ledger(1)
    assert "vllm-secret-123" not in orjson.dumps(row.meta).decode() + row.error_message


def test_every_member_over_its_ceiling_is_a_400_naming_them(gateway_server, client, catalogue):
    make_alias("team/cap", "ordered", ("anthropic/claude-sonnet-4", 1, "1"))

    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="team/cap", messages=MESSAGES, max_tokens=100)

    assert error.value.body["message"].startswith(
        "No model of team/cap can serve this request (anthropic/claude-sonnet-4: "
    )
    assert gateway_server.fake.requests == []
    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, row.requested_model) == ("rejected", 400, "team/cap")


def test_a_key_limited_to_some_models_skips_the_other_members(gateway_server, make_api_key, vllm):
    make_alias("team/fast", "ordered", "openai/gpt-4o-mini", "local/qwen3-8b")
    secret = make_api_key(name="local only", allowed_models=["local/*"])
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)

    client.chat.completions.create(model="team/fast", messages=MESSAGES)

    assert gateway_server.fake.requests == []
    [row] = gateway_server.ledger(1)
    assert row.meta["skipped"] == [{"model": "openai/gpt-4o-mini", "reason": "not allowed for this key"}]
    assert row.served_model == "local/qwen3-8b"


def test_a_key_allowed_none_of_the_members_is_refused(gateway_server, make_api_key, catalogue):
    make_alias("team/fast", "ordered", "openai/gpt-4o-mini")
    secret = make_api_key(name="claude only", allowed_models=["anthropic/*"])
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)

    with pytest.raises(openai.PermissionDeniedError, match="This key may not use team/fast"):
        client.chat.completions.create(model="team/fast", messages=MESSAGES)


def test_the_models_list_includes_the_aliases_the_key_may_use(gateway_server, client, secret, catalogue):
    make_alias("team/fast", "cheapest", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4")
    Alias.objects.create(name="team/off", enabled=False)

    ids = [model.id for model in client.models.list()]
    data = httpx.get(f"{gateway_server.api_url}/models", headers={"Authorization": f"Bearer {secret}"}).json()

    assert "openai/gpt-4o-mini" in ids
    assert ids[-1] == "team/fast"
    assert "team/off" not in ids
    assert data["data"][-1] == {  # the first member's entry (OpenRouter's full shape) under the alias's id
        "id": "team/fast",
        "canonical_slug": "team/fast",
        "hugging_face_id": "",
        "name": "team/fast",
        "created": 0,
        "description": "Alias (cheapest) for openai/gpt-4o-mini, anthropic/claude-sonnet-4",
        "context_length": None,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {  # the test catalogue leaves image... NULL ("variable", "-1"); zero prices are left out
            "prompt": "0.00000015",
            "completion": "0.0000006",
            "image": "-1",
            "internal_reasoning": "-1",
            "input_cache_read": "0.000000075",
            "input_cache_write_1h": "-1",
            "audio": "-1",
        },
        "top_provider": {"context_length": None, "max_completion_tokens": None, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": [],
        "default_parameters": {},
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": ""},
        "tokenledger_alias": {
            "strategy": "cheapest",
            "members": ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4"],
        },
    }


@pytest.fixture
def short_timeout(settings):
    settings.OPENROUTER_TIMEOUT_SECONDS = 0.3


def test_an_upstream_that_does_not_answer_in_time_falls_back_to_the_next(
    short_timeout, gateway_server, client, vllm
):
    make_alias("team/fast", "ordered", "openai/gpt-4o-mini", "local/qwen3-8b")
    gateway_server.fake.reply(headers_delay=2)

    reply = client.chat.completions.create(model="team/fast", messages=MESSAGES)

    assert reply.choices[0].message.content == "Hello from vLLM."
    [row] = gateway_server.ledger(1)
    assert [(a["upstream"], a["status"], a.get("error")) for a in attempts_without_times(row)] == [
        ("openrouter", 504, "OpenRouter did not answer in time"),
        ("local", 200, None),
    ]
