"""Messages and Responses streams the upstream breaks off: the client gets an error event in its API's own
shape (its SDK raises on it), the row is an `error` with an estimate, as for chat streams."""

from decimal import Decimal

import anthropic
import openai
import pytest

from tests.fakes import apis
from tests.fakes.openrouter import Reply
from tests.fakes.rawhttp import sse_reply
from tests.usage.gateway_data import make_catalogue

WHY = "OpenRouter's stream broke off: the connection closed before the reply's end"
RESET = "OpenRouter's stream broke off: the connection broke (Connection reset by peer)"
ESTIMATED = "estimated: the prompt from the request, the output from the text relayed"


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


def test_a_broken_messages_stream_ends_with_an_anthropic_error_event(raw_gateway, catalogue, make_api_key):
    events = list(
        apis.message_events(Reply(text="abcdefgh" * 4, chunks=4), "gen-raw-1", "anthropic/claude-sonnet-4")
    )
    raw_gateway.fake.script(sse_reply(events[:5], end="close"))  # start, ping, block start, two deltas
    client = anthropic.Anthropic(base_url=f"{raw_gateway.url}/api", api_key=make_api_key(), max_retries=0)

    body = {
        "model": "anthropic/claude-sonnet-4",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "a" * 20}],
    }
    received = []
    with pytest.raises(anthropic.APIStatusError) as raised, client.messages.stream(**body) as stream:
        received.extend(stream.text_stream)

    assert "".join(received) == "abcdefgh" * 2
    assert raised.value.body == {"type": "error", "error": {"type": "api_error", "message": WHY}}
    [row] = raw_gateway.ledger(1)
    assert (row.endpoint, row.status, row.http_status, row.error_code) == (
        "messages",
        "error",
        200,
        "upstream_stream_broken",
    )
    assert (row.generation_id, row.prompt_tokens, row.completion_tokens, row.cost_state) == (
        "gen-raw-1",
        5,
        4,
        "estimated",
    )
    assert row.computed_cost == 5 * Decimal("0.000003") + 4 * Decimal("0.000015")
    assert row.meta == {"usage": ESTIMATED}


def test_a_broken_responses_stream_ends_with_an_error_event_the_openai_sdk_raises_on(
    raw_gateway, catalogue, make_api_key
):
    reply = Reply(text="abcdefgh" * 4, chunks=4)
    events = list(apis.response_events(reply, "gen-raw-2", "openai/gpt-4o-mini", {}))
    raw_gateway.fake.script(sse_reply(events[:3], end="reset"))  # created, item added, one delta
    client = openai.OpenAI(base_url=raw_gateway.api_url, api_key=make_api_key(), max_retries=0)

    kinds = []
    with pytest.raises(openai.APIError) as raised:  # noqa: PT012
        for event in client.responses.create(model="openai/gpt-4o-mini", input="a" * 8, stream=True):
            kinds.append(event.type)

    assert kinds == ["response.created", "response.output_item.added", "response.output_text.delta"]
    assert raised.value.message == RESET
    [row] = raw_gateway.ledger(1)
    assert (row.endpoint, row.status, row.error_code, row.generation_id) == (
        "responses",
        "error",
        "upstream_stream_broken",
        "gen-raw-2",
    )
    assert (row.prompt_tokens, row.completion_tokens, row.cost_state) == (2, 2, "estimated")
