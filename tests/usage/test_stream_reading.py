"""A chat stream read as the relay gets it, in blocks of whole events (StreamReading.read_all, which searches a
block once the first chunk and output are known), learns exactly what reading it event by event learns,
however the upstream's reads cut it."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from tests.fakes import apis
from tests.fakes.openrouter import Reply
from tests.fakes.rawhttp import stream_events
from usage.gateway.row import LedgerRow
from usage.gateway.sse import StreamReading
from usage.gateway.streams import MessagesReading


def chunk(choices: list, **more) -> bytes:
    body = {"id": "gen-1", "provider": "OpenAI", "model": "openai/gpt-4o-mini", "choices": choices, **more}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def delta(content: str, finish: str | None = None) -> bytes:
    return chunk([{"index": 0, "delta": {"content": content}, "finish_reason": finish}])


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10, "cost": 0.00002}
DONE = b"data: [DONE]\n\n"

STREAMS = {
    "OpenRouter's own": stream_events("Hello, blocks."),
    "usage without a finish chunk before it": [delta(""), delta("ab"), chunk([], usage=USAGE), DONE],
    "a comment between the finish and the usage": [
        delta("ab"),
        delta("", "length"),
        b": OPENROUTER PROCESSING\n\n",
        chunk([], usage=USAGE),
        DONE,
    ],
    "the finish inside the usage chunk": [
        delta("a"),
        delta("b"),
        chunk([{"index": 0, "finish_reason": "stop"}], usage=USAGE),
        DONE,
    ],
    "an error mid-way": [
        delta("a"),
        delta("b"),
        chunk([{"index": 0, "finish_reason": "error"}], error={"code": 502, "message": "provider down"}),
        DONE,
    ],
    "no output at all": [delta(""), chunk([], usage=USAGE), DONE],
    "no [DONE]": [delta("a"), delta("b", "stop"), chunk([], usage=USAGE)],
    "the word usage in the text": [
        delta('the "usage" field'),
        delta("x", "stop"),
        chunk([], usage=USAGE),
        DONE,
    ],
}


def fed(reader, endpoint: str, blocks: list[bytes], by_event: bool):
    """A `reader` that read these blocks, event by event (`by_event`) or a block at a time."""
    row = LedgerRow(created_at=datetime(2026, 12, 6, tzinfo=UTC), endpoint=endpoint)
    reading = reader(row, started=0.0)
    for block in blocks:
        if by_event:
            for event in block.split(b"\n\n")[:-1]:
                reading.read(event)
        else:
            reading.read_all(block)
    return reading


def learnt(blocks: list[bytes], by_event: bool) -> tuple:
    reading = fed(StreamReading, "chat/completions", blocks, by_event)
    row = reading.row
    return (
        reading.first,
        reading.usage,
        reading.done,
        reading.error,
        row.ttft_ms is not None,
        row.generation_id,
        row.served_model,
        row.provider,
        row.finish_reason,
        row.status,
        row.error_code,
        row.error_message,
    )


def cuts(events: list[bytes]):
    """Every way to cut the events into one, two or three blocks, and one block per event."""
    yield [b"".join(events)]
    for i in range(1, len(events)):
        yield [b"".join(events[:i]), b"".join(events[i:])]
    for i, j in itertools.combinations(range(1, len(events)), 2):
        yield [b"".join(events[:i]), b"".join(events[i:j]), b"".join(events[j:])]
    yield list(events)


@pytest.mark.parametrize("name", list(STREAMS))
def test_blocks_learn_what_events_one_by_one_learn(name):
    events = STREAMS[name]
    expected = learnt(events, by_event=True)
    assert expected[4] or name == "no output at all"  # the stream says what it should
    for blocks in cuts(events):
        assert learnt(blocks, by_event=False) == expected, [len(b) for b in blocks]


def test_what_openrouters_own_stream_teaches():
    first, usage, done, error, ttft, *row = learnt([b"".join(STREAMS["OpenRouter's own"])], by_event=False)
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["cost"], done, error, ttft) == (
        12,
        8,
        6.6e-06,
        True,
        False,
        True,
    )
    assert row == ["gen-raw-1", "openai/gpt-4o-mini", "OpenAI", "stop", "", "", ""]
    assert first["id"] == "gen-raw-1"


def messages_learnt(blocks: list[bytes], by_event: bool) -> tuple:
    reading = fed(MessagesReading, "messages", blocks, by_event)
    row = reading.row
    usage = reading.usage
    return (
        reading.first,
        usage,
        reading.done,
        reading.error,
        row.ttft_ms is not None,
        row.finish_reason,
        row.status,
        row.error_code,
        reading.relayed.tokens(),
    )


TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
MESSAGES = {
    "whole": list(
        apis.message_events(Reply(text="abcdefgh" * 4, chunks=4), "gen-m", "anthropic/claude-sonnet-4")
    ),
    "with a tool call": list(
        apis.message_events(
            Reply(text="ab", chunks=2, tool_calls=[TOOL_CALL]),
            "gen-m",
            "anthropic/claude-sonnet-4",
        )
    ),
}
MESSAGES["cut before its usage"] = MESSAGES["whole"][:6]  # start, ping, block start, three deltas


@pytest.mark.parametrize("name", list(MESSAGES))
def test_messages_blocks_learn_what_events_one_by_one_learn(name):
    events = MESSAGES[name]
    expected = messages_learnt(events, by_event=True)
    assert expected[4]
    for blocks in cuts(events):
        assert messages_learnt(blocks, by_event=False) == expected, [len(b) for b in blocks]


def test_a_messages_stream_cut_before_its_usage_counts_the_text_relayed():
    *_, tokens = messages_learnt([b"".join(MESSAGES["cut before its usage"])], by_event=False)
    assert tokens == 6  # three deltas of 8 characters: 24 / 4
