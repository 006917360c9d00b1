"""The `usage` objects of Anthropic's Messages API, OpenAI's Responses API and the embeddings API, read into
the ledger's categories (docs/gateway.md, "Messages", "Responses", "Embeddings").

Each is turned into OpenRouter's chat `usage` shape and read by LedgerRow.take_usage, so that one reader
decides what a valid count is (usage.usage_values) and what goes to `extra_usage`: fields of the original
the ledger has no column for are kept there under their own names.
"""

from __future__ import annotations

from typing import Any

from usage.usage_values import as_count

ANTHROPIC_READ = frozenset(
    {"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}
    | {"cache_creation", "server_tool_use", "cost", "is_byok", "output_tokens_details"}
)
RESPONSES_READ = frozenset(
    {"input_tokens", "output_tokens", "total_tokens", "input_tokens_details", "output_tokens_details"}
    | {"cost", "is_byok"}
)


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _rest(usage: dict, read: frozenset) -> dict:
    return {key: value for key, value in usage.items() if key not in read}


def anthropic_usage(usage: Any) -> Any:
    """Anthropic's usage: `input_tokens` are the input tokens neither read from nor written to the cache,
    so the ledger's prompt tokens are input + cache reads + cache writes; the writes' 5-minute and 1-hour
    parts come in `cache_creation` (ephemeral_5m_input_tokens / ephemeral_1h_input_tokens)."""
    if not isinstance(usage, dict):
        return usage
    fresh = usage.get("input_tokens", 0)
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    counts = (as_count(fresh), as_count(read), as_count(written))
    # An invalid count is passed on as received, for take_usage to set aside.
    prompt = fresh if None in counts else sum(counts)
    shaped: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": usage.get("output_tokens", 0),
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
    }
    details = _object(usage.get("output_tokens_details"))
    if "reasoning_tokens" in details:
        shaped["completion_tokens_details"] = {"reasoning_tokens": details["reasoning_tokens"]}
    for name in ("cache_creation", "server_tool_use", "cost", "is_byok"):
        if usage.get(name) is not None:
            shaped[name] = usage[name]
    shaped.update(_rest(usage, ANTHROPIC_READ))
    return shaped


def responses_usage(usage: Any) -> Any:
    """OpenAI's Responses usage: `input_tokens` include the cached ones (input_tokens_details), and
    `output_tokens` the reasoning ones (output_tokens_details), as the ledger counts them."""
    if not isinstance(usage, dict):
        return usage
    inputs = _object(usage.get("input_tokens_details"))
    outputs = _object(usage.get("output_tokens_details"))
    shaped: dict[str, Any] = {
        "prompt_tokens": usage.get("input_tokens", 0),
        "completion_tokens": usage.get("output_tokens", 0),
        "prompt_tokens_details": {
            "cached_tokens": inputs.get("cached_tokens", 0),
            "cache_write_tokens": inputs.get("cache_write_tokens", 0),
        },
        "completion_tokens_details": {"reasoning_tokens": outputs.get("reasoning_tokens", 0)},
    }
    for name in ("cost", "is_byok"):
        if usage.get(name) is not None:
            shaped[name] = usage[name]
    shaped.update(_rest(usage, RESPONSES_READ))
    return shaped


def embeddings_usage(usage: Any) -> Any:
    """The embeddings usage: prompt tokens (and OpenRouter's cost); no output."""
    if not isinstance(usage, dict):
        return usage
    return {"completion_tokens": 0, **usage}
