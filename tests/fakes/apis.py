"""The fake OpenRouter's other inference APIs: /messages (Anthropic's Messages API as OpenRouter serves it),
/responses (OpenAI's Responses API) and /embeddings, with bodies and usage in the shapes of the official
SDKs' types (anthropic.types.Message, RawMessage*Event, Usage; openai.types.responses.Response,
ResponseUsage, Response*Event; openai.types.CreateEmbeddingResponse), plus OpenRouter's `usage.cost`.

The same ``Reply`` scripts them (tests/fakes/openrouter.py):

- tokens: ``prompt_tokens`` is every input token, cached and cache-write ones included (as the ledger
  counts them); Anthropic's ``input_tokens`` is then prompt − cached − cache-write, ``cache_read_input_tokens``
  the cached ones and ``cache_creation_input_tokens`` the writes, split in ``cache_creation`` by
  ``cache_write_1h_tokens``; ``completion_tokens`` includes ``reasoning_tokens``;
- ``tool_calls`` (chat's shape, ``{"id", "function": {"name", "arguments"}}``) become a ``tool_use`` block /
  a ``function_call`` output item;
- ``status >= 400``: an error in the endpoint's shape (Anthropic's ``{"type": "error", "error": {...}}``);
- ``stream_error``: an ``error`` event after the first text delta.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.openrouter import CREATED, Reply, split_text

ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
EMBEDDING_SIZE = 4


def event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


# ---- /messages ----
def anthropic_usage(reply: Reply, output: bool = True) -> dict:
    usage: dict[str, Any] = {
        "input_tokens": reply.prompt_tokens - reply.cached_tokens - reply.cache_write_tokens,
        "cache_creation_input_tokens": reply.cache_write_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": reply.cache_write_tokens - reply.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": reply.cache_write_1h_tokens,
        },
        "output_tokens": reply.completion_tokens if output else 1,
        "service_tier": "standard",
    }
    if reply.web_search_requests:
        usage["server_tool_use"] = {"web_search_requests": reply.web_search_requests}
    if reply.cost is not None and output:
        usage["cost"] = float(reply.cost)
    return usage


def _blocks(reply: Reply) -> list[dict]:
    if reply.tool_calls:
        return [
            {
                "type": "tool_use",
                "id": call["id"].replace("call_", "toolu_"),
                "name": call["function"]["name"],
                "input": json.loads(call["function"]["arguments"]),
            }
            for call in reply.tool_calls
        ]
    return [{"type": "text", "text": reply.text}]


def _stop(reply: Reply) -> str:
    return "tool_use" if reply.tool_calls else "end_turn"


def message(reply: Reply, gen_id: str, model: str) -> dict:
    payload: dict[str, Any] = {
        "id": gen_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(reply),
        "stop_reason": _stop(reply),
        "stop_sequence": None,
    }
    if reply.usage:
        payload["usage"] = anthropic_usage(reply)
    return payload


def message_events(reply: Reply, gen_id: str, model: str):
    start = {**message(reply, gen_id, model), "content": [], "stop_reason": None}
    start["usage"] = anthropic_usage(reply, output=False)
    yield event("message_start", {"type": "message_start", "message": start})
    yield event("ping", {"type": "ping"})
    for index, block in enumerate(_blocks(reply)):
        if block["type"] == "tool_use":
            opened = {**block, "input": {}}
            pieces = [("input_json_delta", "partial_json", json.dumps(block["input"]))]
        else:
            opened = {"type": "text", "text": ""}
            pieces = [("text_delta", "text", part) for part in split_text(block["text"], reply.chunks)]
        yield event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": opened}
        )
        for number, (kind, field, part) in enumerate(pieces):
            delta = {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: part}}
            yield event("content_block_delta", delta)
            if number == 0 and reply.stream_error:
                error = {"type": "error", "error": {"type": "api_error", "message": reply.stream_error}}
                yield event("error", error)
                return
        yield event("content_block_stop", {"type": "content_block_stop", "index": index})
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": _stop(reply), "stop_sequence": None},
    }
    if reply.usage:
        delta["usage"] = anthropic_usage(reply)
    yield event("message_delta", delta)
    yield event("message_stop", {"type": "message_stop"})


def anthropic_error(status: int, message_text: str) -> dict:
    return {
        "type": "error",
        "error": {"type": ANTHROPIC_ERRORS.get(status, "api_error"), "message": message_text},
    }


# ---- /responses ----
def responses_usage(reply: Reply) -> dict:
    usage: dict[str, Any] = {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    if reply.cost is not None:
        usage["cost"] = float(reply.cost)
    return usage


def _output(reply: Reply, gen_id: str) -> list[dict]:
    if reply.tool_calls:
        return [
            {
                "type": "function_call",
                "id": f"fc_{call['id']}",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
            for call in reply.tool_calls
        ]
    text = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
    return [
        {
            "type": "message",
            "id": f"msg_{gen_id}",
            "role": "assistant",
            "status": "completed",
            "content": [text],
        }
    ]


def response(reply: Reply, gen_id: str, model: str, body: dict, status: str = "completed") -> dict:
    done = status == "completed"
    return {
        "id": gen_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": _output(reply, gen_id) if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "temperature": body.get("temperature"),
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_p": None,
        "usage": responses_usage(reply) if done and reply.usage else None,
    }


def response_events(reply: Reply, gen_id: str, model: str, body: dict):
    number = 0

    def sequenced(name: str, data: dict) -> bytes:
        nonlocal number
        number += 1
        return event(name, {"type": name, "sequence_number": number, **data})

    yield sequenced("response.created", {"response": response(reply, gen_id, model, body, "in_progress")})
    item_id = f"msg_{gen_id}"
    if not reply.tool_calls:
        item = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}
        yield sequenced("response.output_item.added", {"output_index": 0, "item": item})
        for index, part in enumerate(split_text(reply.text, reply.chunks)):
            delta = {"item_id": item_id, "output_index": 0, "content_index": 0, "delta": part, "logprobs": []}
            yield sequenced("response.output_text.delta", delta)
            if index == 0 and reply.stream_error:
                yield sequenced(
                    "error", {"code": "server_error", "message": reply.stream_error, "param": None}
                )
                return
        done = {"item_id": item_id, "output_index": 0, "content_index": 0, "text": reply.text, "logprobs": []}
        yield sequenced("response.output_text.done", done)
    final = response(reply, gen_id, model, body)
    for index, item in enumerate(final["output"]):
        yield sequenced("response.output_item.done", {"output_index": index, "item": item})
    yield sequenced("response.completed", {"response": final})


# ---- /embeddings ----
def embeddings(reply: Reply, gen_id: str, model: str, body: dict) -> dict:
    value = body.get("input")
    count = len(value) if isinstance(value, list) and value and not isinstance(value[0], int) else 1
    usage: dict[str, Any] = {"prompt_tokens": reply.prompt_tokens, "total_tokens": reply.prompt_tokens}
    if reply.cost is not None:
        usage["cost"] = float(reply.cost)
    return {
        "id": gen_id,
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": [0.25 * (index + 1)] * EMBEDDING_SIZE}
            for index in range(count)
        ],
        "model": model,
        "provider": reply.provider,
        "usage": usage,
    }
