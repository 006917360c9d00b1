"""Every refusal and failure: OpenAI-style JSON the SDK turns into the matching exception, and a ledger row."""

import socket
from datetime import timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from django.utils import timezone

from tests.conftest import free_port
from tests.usage.gateway_data import make_catalogue
from usage.models import ApiKey, KeylessRefusal, LedgerEntry
from usage.services.keys import api_key_revoke

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def sdk(gateway_server, secret):
    return openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)


def chat(gateway_server, secret, **body):
    return sdk(gateway_server, secret).chat.completions.create(
        **{"model": "openai/gpt-4o-mini", "messages": MESSAGES, **body}
    )


def post(gateway_server, secret, content: bytes, **headers):
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json", **headers}
    return httpx.post(f"{gateway_server.api_url}/chat/completions", content=content, headers=headers)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "The request body is not valid JSON"),
        (b"[1, 2]", "The request body must be a JSON object"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "`model` is required"),
        (b'{"model": "openai/gpt-4o-mini"}', "`messages` must be a non-empty array"),
        (b'{"model": 3, "messages": []}', "`model` must be a model id string"),
        (
            b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user"}], "stream": "yes"}',
            "`stream` must be true or false",
        ),
    ],
)
def test_a_malformed_body_is_a_400_with_a_clear_message(
    gateway_server, catalogue, make_api_key, content, message
):
    secret = make_api_key()
    response = post(gateway_server, secret, content)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    [row] = gateway_server.ledger(1)
    assert (row.status, row.http_status, row.computed_cost) == ("rejected", 400, Decimal(0))
    assert gateway_server.fake.requests == []


def test_an_unknown_model_is_a_bad_request_naming_it(gateway_server, catalogue, make_api_key):
    secret = make_api_key()
    with pytest.raises(openai.BadRequestError, match="nobody/nothing is not a model in the catalogue"):
        chat(gateway_server, secret, extra_body={"models": ["openai/gpt-4o-mini", "nobody/nothing"]})
    [row] = gateway_server.ledger(1)
    assert (row.status, row.error_code) == ("rejected", "unknown_model")


def test_routing_suffixes_on_known_models_pass(gateway_server, catalogue, make_api_key):
    secret = make_api_key()
    for model in ("openai/gpt-4o-mini:floor", "openai/gpt-4o-mini:online", "openrouter/auto"):
        chat(gateway_server, secret, model=model)
    assert [r.status for r in gateway_server.ledger(3)] == ["ok", "ok", "ok"]


def test_a_missing_or_unknown_key_is_401_counted_per_reason_without_a_ledger_row(gateway_server, catalogue):
    from usage.gateway.app import gateway

    before = dict(gateway.metrics.keyless)
    for header in (None, "Bearer tl-not-a-key", "Basic abc", "Bearer tl-not-a-key"):
        headers = {"Authorization": header} if header else {}
        response = httpx.post(f"{gateway_server.api_url}/chat/completions", json={}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 401

    assert gateway.writer.flush()
    assert not LedgerEntry.objects.exists()
    assert {(r.reason, r.count) for r in KeylessRefusal.objects.all()} == {
        ("missing_key", 2),
        ("invalid_key", 2),
    }
    counted = {reason: n - before.get(reason, 0) for reason, n in gateway.metrics.keyless.items()}
    counted = {reason: n for reason, n in counted.items() if n}
    assert counted == {"missing_key": 2, "invalid_key": 2}
    assert gateway_server.fake.requests == []


def test_an_unknown_key_is_refused_before_its_body_is_read(gateway_server, catalogue):
    host, port = gateway_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        # A body announced as 10 MB of which nothing is sent: the refusal must not wait for it.
        sock.sendall(
            b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer tl-not-a-key\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n{"
        )
        reply = sock.recv(65536)

    assert reply.startswith(b"HTTP/1.1 401 ")
    assert b'"type":"invalid_key"' in reply


def test_a_revoked_key_is_refused(gateway_server, catalogue, make_api_key):
    secret = make_api_key()
    api_key_revoke(api_key=ApiKey.objects.get())
    with pytest.raises(openai.AuthenticationError, match="was revoked"):
        chat(gateway_server, secret, model="deepseek/deepseek-r1", stream=True)
    [row] = gateway_server.ledger(1)
    assert (row.api_key, row.status, row.error_code) == (ApiKey.objects.get(), "rejected", "revoked_key")
    assert (row.requested_model, row.stream) == ("deepseek/deepseek-r1", True)


def test_an_expired_key_is_refused(gateway_server, catalogue, make_api_key):
    secret = make_api_key(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(openai.AuthenticationError, match="has expired"):
        chat(gateway_server, secret)


def test_a_model_the_key_may_not_use_is_403(gateway_server, catalogue, make_api_key):
    secret = make_api_key(allowed_models=["openai/*", "deepseek/deepseek-r1"])
    chat(gateway_server, secret, model="openai/gpt-4o-mini:nitro")
    chat(gateway_server, secret, model="deepseek/deepseek-r1")
    with pytest.raises(openai.PermissionDeniedError, match="may not use anthropic/claude-sonnet-4"):
        chat(gateway_server, secret, model="anthropic/claude-sonnet-4")
    assert [r.http_status for r in gateway_server.ledger(3)] == [200, 200, 403]


def test_a_body_over_the_limit_is_413(gateway_server, catalogue, make_api_key, settings):
    secret = make_api_key()
    big = (
        b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "'
        + b"x" * (11 * 1024 * 1024)
        + b'"}]}'
    )
    response = post(gateway_server, secret, big)

    assert response.status_code == 413
    assert gateway_server.ledger(1)[0].error_code == "body_too_large"


def test_the_requests_per_minute_limit_answers_429_with_retry_after(gateway_server, catalogue, make_api_key):
    secret = make_api_key(rpm_limit=2)
    chat(gateway_server, secret)
    chat(gateway_server, secret)
    with pytest.raises(
        openai.RateLimitError, match=r"Requests per minute limit of this key reached \(2/min\)"
    ) as error:
        chat(gateway_server, secret)
    assert 1 <= int(error.value.response.headers["retry-after"]) <= 60
    assert [r.status for r in gateway_server.ledger(3)] == ["ok", "ok", "rejected"]


def test_the_tokens_per_minute_limit_counts_tokens_used(gateway_server, catalogue, make_api_key):
    secret = make_api_key(tpm_limit=30)
    chat(gateway_server, secret)  # 20 tokens
    chat(gateway_server, secret)  # 40 tokens: over from now on
    gateway_server.ledger(2)
    gateway_server.settled()  # the counters are settled in the background, after the row is queued
    with pytest.raises(openai.RateLimitError, match="Tokens per minute"):
        chat(gateway_server, secret)


def test_a_spent_budget_is_402(gateway_server, catalogue, make_api_key):
    secret = make_api_key(budget_usd=Decimal("0.0001"), budget_period="daily")
    gateway_server.fake.reply(cost="0.00015")
    # A first request is admitted (its worst case, 100 output tokens, fits): spent 0.00015.
    chat(gateway_server, secret, max_tokens=100)
    gateway_server.ledger(1)
    with pytest.raises(openai.APIStatusError, match="daily budget of \\$0.0001 is spent") as error:
        chat(gateway_server, secret, max_tokens=100)
    assert error.value.status_code == 402
    assert gateway_server.ledger(2)[1].error_code == "budget_exceeded"


def test_a_budget_left_below_a_requests_cost_is_402(gateway_server, catalogue, make_api_key):
    secret = make_api_key(budget_usd=Decimal("0.0002"), budget_period="monthly")
    gateway_server.fake.reply(cost="0.00015")
    chat(gateway_server, secret, max_tokens=100)  # 0.00005 left, less than this request's worst case
    gateway_server.ledger(1)
    with pytest.raises(
        openai.APIStatusError,
        match="This request requires more credits, or fewer max_tokens. You requested up to 100 tokens, but can only afford",
    ) as error:
        chat(gateway_server, secret, max_tokens=100)
    assert error.value.status_code == 402


def test_upstream_errors_are_relayed_with_their_message(gateway_server, catalogue, make_api_key):
    secret = make_api_key()
    cases = [
        (402, openai.APIStatusError, "Insufficient credits"),
        (429, openai.RateLimitError, "Rate limit exceeded"),
        (502, openai.InternalServerError, "Provider returned error"),
        (503, openai.InternalServerError, "No available model provider"),
        (400, openai.BadRequestError, "Invalid request"),
        (401, openai.AuthenticationError, "No auth credentials"),
    ]
    for status, exception, message in cases:
        gateway_server.fake.reply(status=status, metadata={"provider_name": "OpenAI"})
        with pytest.raises(exception, match=message) as error:
            chat(gateway_server, secret)
        assert error.value.status_code == status
    rows = gateway_server.ledger(len(cases))
    assert [(r.http_status, r.status) for r in rows] == [(status, "error") for status, _, _ in cases]
    assert rows[0].error_message == "Insufficient credits. Add more using https://openrouter.ai/credits"


def test_garbage_from_upstream_is_502(gateway_server, catalogue, make_api_key):
    secret = make_api_key()
    gateway_server.fake.reply(raw=b"<html>bad gateway</html>", content_type="text/html")
    with pytest.raises(openai.InternalServerError, match="unreadable reply") as error:
        chat(gateway_server, secret)
    assert error.value.status_code == 502
    assert gateway_server.ledger(1)[0].error_code == "upstream_garbage"


@pytest.fixture
def dead_upstream(settings):
    settings.OPENROUTER_BASE_URL = f"http://127.0.0.1:{free_port()}/api/v1"


def test_nothing_listening_upstream_is_502(
    _gateway_settings, dead_upstream, catalogue, make_api_key, live_asgi
):
    secret = make_api_key()
    client = openai.OpenAI(base_url=f"{live_asgi.url}/api/v1", api_key=secret, max_retries=0)
    with pytest.raises(openai.InternalServerError, match="OpenRouter unreachable") as error:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert error.value.status_code == 502


@pytest.fixture
def short_timeout(settings):
    settings.OPENROUTER_TIMEOUT_SECONDS = 0.3


def test_a_slow_upstream_is_504(short_timeout, gateway_server, catalogue, make_api_key):
    secret = make_api_key()
    gateway_server.fake.reply(headers_delay=2)
    with pytest.raises(openai.APIStatusError, match="did not answer in time") as error:
        chat(gateway_server, secret)
    assert error.value.status_code == 504
    assert gateway_server.ledger(1)[0].status == "error"


def test_unknown_paths_and_methods_get_json_errors(gateway_server, catalogue):
    assert httpx.get(f"{gateway_server.api_url}/nothing").json()["error"]["code"] == 404
    assert httpx.get(f"{gateway_server.api_url}/chat/completions").status_code == 405
