"""What a model id names: OpenRouter's variant suffixes (`:nitro`, `:floor`, `:online`...) on a base id."""

from __future__ import annotations

ROUTER_ID = "openrouter/auto"  # OpenRouter's router: a model id, whatever the catalogue lists


def base_model_id(model_id: str) -> str:
    """The id without its variant suffix: `openai/gpt-4o:nitro` → `openai/gpt-4o` (an id without one as is).

    A suffixed id can be a catalogue model of its own (`…:free`), so callers look the exact id up first.
    """
    return model_id.partition(":")[0]
