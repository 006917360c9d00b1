"""Captured bodies made ready to store (usage/exchanges.py) and laid out as a conversation
(usage/conversation.py), for the shapes the gateway tests do not cover end to end."""

import json

from usage.conversation import Part, Turn, conversation_of
from usage.exchanges import exchange_of


def sse(*events: dict, named: bool = False) -> bytes:
    out = b""
    for data in events:
        if named:
            out += f"event: {data['type']}\n".encode()
        out += b"data: " + json.dumps(data).encode() + b"\n\n"
    return out


def test_a_responses_stream_is_kept_as_its_completed_response():
    final = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "output": [],
        "usage": {"total_tokens": 9},
    }
    stream = sse(
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.output_text.delta", "delta": "Hi"},
        {"type": "response.completed", "response": final},
        named=True,
    )

    exchange = exchange_of(
        endpoint="responses",
        stream=True,
        request=b'{"input": "x"}',
        reply=stream,
        tail=b"",
        cut=False,
        limit=4096,
    )

    assert (exchange.request, exchange.reply, exchange.truncated) == ({"input": "x"}, final, False)


def test_a_responses_stream_that_never_completed_keeps_its_text():
    stream = sse(
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.output_text.delta", "delta": "lo"},
        named=True,
    )

    exchange = exchange_of(
        endpoint="responses", stream=True, request=b"{}", reply=stream, tail=b"", cut=False, limit=4096
    )

    assert exchange.reply == {"id": "resp_1", "status": "in_progress", "output_text": "Hello"}


def test_a_completions_stream_is_kept_as_a_text_completion():
    stream = (
        sse(
            {"id": "gen-1", "model": "m", "choices": [{"index": 0, "text": "Once "}]},
            {
                "id": "gen-1",
                "model": "m",
                "choices": [{"index": 0, "text": "upon", "finish_reason": "length"}],
            },
            {"id": "gen-1", "model": "m", "choices": [], "usage": {"completion_tokens": 2}},
        )
        + b"data: [DONE]\n\n"
    )

    exchange = exchange_of(
        endpoint="completions", stream=True, request=b"{}", reply=stream, tail=b"", cut=False, limit=4096
    )

    assert exchange.reply == {
        "id": "gen-1",
        "model": "m",
        "object": "text_completion",
        "choices": [{"index": 0, "text": "Once upon", "finish_reason": "length"}],
        "usage": {"completion_tokens": 2},
    }


def test_a_body_that_is_not_json_is_kept_as_redacted_text_cut_at_the_cap():
    exchange = exchange_of(
        endpoint="chat/completions",
        stream=False,
        request=b"password=hunter2 " + b"a" * 2000,
        reply=b"<html>Bad gateway</html>",
        tail=b"",
        cut=False,
        limit=1024,
    )

    assert (exchange.request, exchange.request_text) == (
        None,
        "password=[REDACTED] " + "a" * (1024 - 20) + "…",
    )
    assert (exchange.reply, exchange.reply_text, exchange.truncated) == (
        None,
        "<html>Bad gateway</html>",
        True,
    )


def test_json_without_long_strings_that_cannot_fit_is_kept_as_cut_text():
    body = {"input": list(range(1000))}

    exchange = exchange_of(
        endpoint="embeddings",
        stream=False,
        request=json.dumps(body).encode(),
        reply=b"{}",
        tail=b"",
        cut=False,
        limit=1024,
    )

    assert exchange.request is None
    assert exchange.request_text == json.dumps(body, separators=(",", ":"))[:1024] + "…"
    assert (exchange.reply, exchange.truncated) == ({}, True)


def test_a_reply_cut_by_the_gateway_is_kept_as_text():
    exchange = exchange_of(
        endpoint="chat/completions",
        stream=False,
        request=b"{}",
        reply=b'{"choices": [',
        tail=b"",
        cut=True,
        limit=1024,
    )

    assert (exchange.reply, exchange.reply_text, exchange.truncated) == (None, '{"choices": [', True)


def test_a_chat_exchange_is_laid_out_with_its_tool_calls_and_results():
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
    }
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "4 °C"},
        ]
    }
    reply = {
        "choices": [{"message": {"role": "assistant", "content": "<b>4 °C</b>", "reasoning": "Look."}}],
        "usage": {"total_tokens": 3},
    }

    conversation = conversation_of(
        endpoint="chat/completions",
        request=request,
        request_text="",
        reply=reply,
        reply_text="",
        truncated=False,
    )

    assert conversation.turns == [
        Turn("system", [Part("text", "Be brief.")]),
        Turn("user", [Part("text", "Weather?"), Part("image", "(image data)")]),
        Turn("assistant", [Part("tool_call", '{\n  "city": "Oslo"\n}', "weather · call_1")]),
        Turn("tool", [Part("tool_result", "4 °C", "call_1")]),
        Turn("assistant", [Part("reasoning", "Look."), Part("text", "<b>4 °C</b>")], reply=True),
    ]
    assert conversation.usage_json == '{\n  "total_tokens": 3\n}'


def test_a_messages_exchange_is_laid_out_with_tool_use_and_results():
    request = {
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "4 °C"}],
                    }
                ],
            },
        ],
    }
    reply = {
        "type": "message",
        "content": [{"type": "thinking", "thinking": "Hm."}, {"type": "text", "text": "Cold."}],
    }

    conversation = conversation_of(
        endpoint="messages", request=request, request_text="", reply=reply, reply_text="", truncated=False
    )

    assert conversation.turns == [
        Turn("system", [Part("text", "Be brief.")]),
        Turn("user", [Part("text", "Weather?")]),
        Turn("assistant", [Part("tool_call", '{\n  "city": "Oslo"\n}', "weather · toolu_1")]),
        Turn("user", [Part("tool_result", "4 °C", "toolu_1")]),
        Turn("assistant", [Part("reasoning", "Hm."), Part("text", "Cold.")], reply=True),
    ]


def test_a_responses_exchange_is_laid_out_with_its_function_calls():
    request = {
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "4 °C"},
        ],
    }
    reply = {
        "output": [
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Cold."}]}
        ]
    }

    conversation = conversation_of(
        endpoint="responses", request=request, request_text="", reply=reply, reply_text="", truncated=False
    )

    assert conversation.turns == [
        Turn("system", [Part("text", "Be brief.")]),
        Turn("user", [Part("text", "Weather?")]),
        Turn("assistant", [Part("tool_call", "{}", "weather · c1")]),
        Turn("tool", [Part("tool_result", "4 °C", "c1")]),
        Turn("assistant", [Part("text", "Cold.")], reply=True),
    ]


def test_a_refused_request_keeps_its_body_and_no_reply():
    exchange = exchange_of(
        endpoint="chat/completions",
        stream=True,
        request=b'{"stream": true}',
        reply=b"",
        tail=b"",
        cut=False,
        limit=1024,
    )

    assert (exchange.request, exchange.reply, exchange.reply_text, exchange.truncated) == (
        {"stream": True},
        None,
        "",
        False,
    )


def test_a_stream_answered_with_a_json_error_is_kept_as_json():
    error = b'{"error": {"code": 429, "message": "Rate limit exceeded"}}'

    exchange = exchange_of(
        endpoint="chat/completions", stream=True, request=b"{}", reply=error, tail=b"", cut=False, limit=1024
    )

    assert exchange.reply == {"error": {"code": 429, "message": "Rate limit exceeded"}}


def test_nul_characters_become_replacement_characters():
    exchange = exchange_of(
        endpoint="chat/completions",
        stream=False,
        request=b'{"prompt": "a\\u0000b"}',
        reply=b"not json \x00",
        tail=b"",
        cut=False,
        limit=1024,
    )

    assert (exchange.request, exchange.reply_text) == ({"prompt": "a\ufffdb"}, "not json \ufffd")
