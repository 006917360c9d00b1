"""Hostile input and odd upstreams, through the real gateway over HTTP: compressed replies nobody asked
for, bodies nested too deep, streams broken mid-way, redirects, a forged Host, bodies that never arrive."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal

import httpx
import openai
import pytest

from tests.fakes.rawhttp import completion, json_reply, redirect, sse_reply, stream_events
from tests.usage.gateway_data import make_catalogue
from usage.models import Alias, AliasMember, KeylessRefusal, LedgerEntry

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
TEXT = "Hello from the raw upstream."


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def sdk(server, secret):
    return openai.OpenAI(base_url=server.api_url, api_key=secret, max_retries=0)


# ---- compressed replies ----


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_json_reply_reaches_the_client_decoded_with_its_usage_counted(
    raw_gateway, catalogue, make_api_key, encoding
):
    raw_gateway.fake.script(json_reply(completion(), encoding=encoding))

    reply = sdk(raw_gateway, make_api_key()).chat.completions.create(model=MODEL, messages=MESSAGES)

    assert reply.choices[0].message.content == TEXT
    assert raw_gateway.fake.requests[0].headers["accept-encoding"] == "identity"
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.prompt_tokens, row.completion_tokens) == ("ok", 12, 8)
    assert row.reported_cost == Decimal("0.0000066")
    assert row.computed_cost == Decimal("0.0000066")  # 12 × 0.00000015 + 8 × 0.0000006


def test_a_gzip_stream_reaches_the_client_decoded_with_its_usage_counted(
    raw_gateway, catalogue, make_api_key
):
    raw_gateway.fake.script(sse_reply(stream_events(), encoding="gzip"))

    stream = sdk(raw_gateway, make_api_key()).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == TEXT
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.stream, row.prompt_tokens, row.completion_tokens) == ("ok", True, 12, 8)
    assert row.reported_cost == Decimal("0.0000066")


def test_a_corrupt_compressed_reply_is_a_502_naming_the_upstream(raw_gateway, catalogue, make_api_key):
    async def garbage(writer):
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: 9\r\n\r\nnot gzip!"
        )

    raw_gateway.fake.script(garbage)
    with pytest.raises(openai.APIStatusError) as raised:
        sdk(raw_gateway, make_api_key()).chat.completions.create(model=MODEL, messages=MESSAGES)

    assert raised.value.status_code == 502
    assert raised.value.body["message"] == "OpenRouter sent a corrupt compressed reply"
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.http_status, row.error_code) == ("error", 502, "upstream_garbage")


# ---- bodies nested too deep ----


def nested(depth: int, extra: dict) -> bytes:
    """A chat body of `depth` nested arrays and objects (the body itself is the first), with `extra` fields."""
    lists = depth - 3  # the body, the messages array and the message object are the other three
    content = b"[" * lists + b'"x"' + b"]" * lists
    fields = json.dumps({"model": MODEL} | extra).encode()[1:-1]
    return b"{" + fields + b', "messages": [{"role": "user", "content": ' + content + b"}]}"


@pytest.mark.parametrize(
    ("path", "body_extra", "headers"),
    [
        ("plain", {}, {}),
        ("response cache", {"temperature": 0}, {"X-Tokenledger-Cache": "on"}),
        ("alias", {"model": "team/deep"}, {}),
        ("model list", {"model": [MODEL, "deepseek/deepseek-r1"]}, {}),
    ],
)
def test_a_body_nested_deeper_than_254_levels_is_a_400_on_every_path(
    raw_gateway, catalogue, make_api_key, path, body_extra, headers
):
    alias = Alias.objects.create(name="team/deep")
    AliasMember.objects.create(alias=alias, model=MODEL)
    secret = make_api_key()

    def post(depth):
        return httpx.post(
            f"{raw_gateway.api_url}/chat/completions",
            content=nested(depth, body_extra),
            headers={"Authorization": f"Bearer {secret}", **headers},
        )

    too_deep = post(255)
    assert too_deep.status_code == 400
    assert too_deep.json()["error"]["message"] == "The request body is nested deeper than 254 levels"
    assert post(254).status_code == 200
    assert post(1100).json()["error"]["message"] == "The request body is nested deeper than 254 levels"
    rows = raw_gateway.ledger(3)
    assert [(r.status, r.http_status) for r in rows] == [("rejected", 400), ("ok", 200), ("rejected", 400)]
    assert len(raw_gateway.fake.requests) == 1


# ---- streams broken mid-way ----


@pytest.mark.parametrize(
    ("end", "why"),
    [
        ("close", "OpenRouter's stream broke off: the connection closed before the reply's end"),
        ("close-clean", "OpenRouter ended the stream before its end (no [DONE])"),
        ("reset", "OpenRouter's stream broke off: the connection broke (Connection reset by peer)"),
        ("hang", "OpenRouter's stream broke off: nothing came in 1 s"),
    ],
)
def test_a_stream_broken_mid_way_ends_with_an_error_event_the_sdk_raises_on(
    slow_upstream_timeout, raw_gateway, catalogue, make_api_key, end, why
):
    events = stream_events()[:4]  # the comment, the role chunk and two content pieces
    raw_gateway.fake.script(sse_reply(events, end=end))

    stream = sdk(raw_gateway, make_api_key()).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    assert "".join(received) == TEXT[:14]  # what came before the break (2 of 4 pieces) was relayed
    assert raised.value.message == why
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.http_status, row.error_code) == ("error", 200, "upstream_stream_broken")
    assert row.error_message == why
    # No usage came: an estimate, to be reconciled: "hi" is 1 token, the 14 characters relayed 4.
    assert (row.prompt_tokens, row.completion_tokens, row.cost_state) == (1, 4, "estimated")
    assert row.computed_cost == Decimal("0.00000015") + 4 * Decimal("0.0000006")
    assert row.meta == {"usage": "estimated: the prompt from the request, the output from the text relayed"}


@pytest.fixture
def slow_upstream_timeout(settings):
    """A read timeout short enough for a test (read when the gateway starts: use before raw_gateway)."""
    settings.OPENROUTER_TIMEOUT_SECONDS = 1.0


# ---- redirects ----


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_from_the_upstream_is_a_502_naming_it_never_followed(
    raw_gateway, catalogue, make_api_key, status
):
    raw_gateway.fake.script(redirect(status, f"{raw_gateway.fake.url}/chat/completions"))

    with pytest.raises(openai.APIStatusError) as raised:
        sdk(raw_gateway, make_api_key()).chat.completions.create(model=MODEL, messages=MESSAGES)

    assert raised.value.status_code == 502
    message = f"OpenRouter answered with a redirect (HTTP {status}), which is not followed"
    assert raised.value.body["message"] == message
    assert len(raw_gateway.fake.requests) == 1
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.http_status, row.error_code) == ("error", 502, "upstream_redirect")


# ---- Host ----


def test_a_host_not_in_allowed_hosts_is_a_400_json_error_without_a_row(raw_gateway, catalogue, make_api_key):
    from usage.gateway.app import gateway

    secret = make_api_key()
    response = httpx.post(
        f"{raw_gateway.api_url}/chat/completions",
        json={"model": MODEL, "messages": MESSAGES},
        headers={"Authorization": f"Bearer {secret}", "Host": "evil.example"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 400,
        "message": "Invalid Host header",
        "metadata": {},
        "type": "bad_host",
    }
    assert raw_gateway.fake.requests == []
    assert gateway.writer.flush()
    assert not LedgerEntry.objects.exists()
    assert [(r.reason, r.count) for r in KeylessRefusal.objects.all()] == [("bad_host", 1)]


# ---- bodies that never arrive ----


@pytest.fixture
def body_timeouts(settings):
    """Short body timeouts (read when the gateway starts: use before raw_gateway)."""
    settings.GATEWAY_BODY_IDLE_SECONDS = 0.5
    settings.GATEWAY_BODY_TIMEOUT_SECONDS = 1.5


def send_slowly(server, secret: str, pieces: list[bytes], gap: float) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    body = b"".join(pieces)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {secret}\r\nContent-Length: {len(body) + 1000}\r\n\r\n".encode()
        )
        sock.settimeout(0.01)
        for piece in pieces:
            sock.sendall(piece)
            deadline = time.monotonic() + gap
            while time.monotonic() < deadline:
                try:
                    reply = sock.recv(65536)
                except TimeoutError:
                    continue
                return reply
        sock.settimeout(10)
        return sock.recv(65536)


def test_a_body_that_stalls_between_chunks_is_a_408(body_timeouts, raw_gateway, catalogue, make_api_key):
    started = time.monotonic()
    reply = send_slowly(raw_gateway, make_api_key(), [b'{"model": "openai'], gap=5)

    assert 0.4 < time.monotonic() - started < 3
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b'"message":"The request body stalled for over 0.5 s"' in reply
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.http_status, row.error_code) == ("rejected", 408, "body_timeout")
    assert raw_gateway.fake.requests == []


def test_a_body_that_trickles_in_for_too_long_is_a_408(body_timeouts, raw_gateway, catalogue, make_api_key):
    started = time.monotonic()
    reply = send_slowly(raw_gateway, make_api_key(), [b" "] * 40, gap=0.2)  # never idle 0.5 s

    assert 1.4 < time.monotonic() - started < 4
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b'"message":"The request body took over 1.5 s to arrive"' in reply
    [row] = raw_gateway.ledger(1)
    assert (row.status, row.http_status, row.error_code) == ("rejected", 408, "body_timeout")


def test_a_stream_whose_client_leaves_after_done_is_ok_even_if_the_upstream_lingers(
    raw_gateway, catalogue, make_api_key
):
    raw_gateway.fake.script(sse_reply(stream_events(), end="hang"))  # [DONE], then the reply never ends

    started = time.monotonic()
    stream = sdk(raw_gateway, make_api_key()).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == TEXT
    [row] = raw_gateway.ledger(1)
    assert (
        time.monotonic() - started < 5
    )  # the row is written about 1 s after [DONE], not when the upstream ends
    assert (row.status, row.http_status, row.error_code) == ("ok", 200, "")
    assert (row.prompt_tokens, row.completion_tokens, row.reported_cost) == (12, 8, Decimal("0.0000066"))
