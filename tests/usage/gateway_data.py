"""A small catalogue for gateway tests: models with known prices (USD per token)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from catalog.models import CatalogModel, PriceVersion

SINCE = datetime(2026, 1, 1, tzinfo=UTC)

MODELS = {
    # id: prompt, completion, input_cache_read, input_cache_write, request, web_search
    "openai/gpt-4o-mini": ("0.00000015", "0.0000006", "0.000000075", "0", "0", "0"),
    "anthropic/claude-sonnet-4": ("0.000003", "0.000015", "0.0000003", "0.00000375", "0", "0.01"),
    "deepseek/deepseek-r1": ("0.0000004", "0.000002", "0", "0", "0.001", "0"),
    "openrouter/auto": (None, None, None, None, None, None),
}


def make_catalogue() -> dict[str, PriceVersion]:
    versions = {}
    for model_id, (prompt, completion, read, write, request, search) in MODELS.items():
        model = CatalogModel.objects.create(
            model_id=model_id,
            author=model_id.split("/")[0],
            name=model_id,
            first_seen=SINCE,
            last_seen=SINCE,
            raw={"id": model_id, "name": model_id},
        )

        def d(value):
            return None if value is None else Decimal(value)

        versions[model_id] = PriceVersion.objects.create(
            catalog_model=model,
            valid_from=SINCE,
            prompt=d(prompt),
            completion=d(completion),
            input_cache_read=d(read),
            input_cache_write=d(write),
            request=d(request),
            web_search=d(search),
        )
    return versions


def make_catalogue_with_local() -> dict[str, PriceVersion]:
    """make_catalogue() and our own priced model on another upstream, local/qwen3-8b."""
    versions = make_catalogue()
    model = CatalogModel.objects.create(
        model_id="local/qwen3-8b", author="local", name="Qwen3 8B (ours)", first_seen=SINCE, last_seen=SINCE
    )
    versions["local/qwen3-8b"] = PriceVersion.objects.create(
        catalog_model=model, valid_from=SINCE, prompt=Decimal("0.0000001"), completion=Decimal("0.0000002")
    )
    return versions
