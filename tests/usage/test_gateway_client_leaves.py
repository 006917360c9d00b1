"""A client that goes away before the reply: the upstream request is cancelled at once (not left to run for
up to 600 s), and the row says `cancelled`, for non-stream requests too. Through the real gateway."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fakes.openrouter import Reply
from tests.usage.gateway_data import make_catalogue

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_leaving_before_the_headers_cancels_the_upstream_request(
    gateway_server, catalogue, make_api_key, stream
):
    gateway_server.fake.default = Reply(headers_delay=30)
    body = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "stream": stream}
    began = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway_server.api_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {make_api_key()}"},
            timeout=0.5,
        )

    assert gateway_server.fake.wait_closed_early(1, timeout=5)
    [row] = gateway_server.ledger(1)
    assert time.monotonic() - began < 5  # not the upstream's 30 s
    assert (row.status, row.http_status, row.error_code) == ("cancelled", 499, "client_closed")
    assert row.error_message == "The client went away before the reply"
