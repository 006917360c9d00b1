"""The small catalogue the page tests share (exact prices chosen so every figure is easy to check)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.catalog.page_factories import T0, make_model

SMALL = "alpha/small"
VISION = "alpha/vision"
FREE = "beta/free"
AUTO = "router/auto"
IMAGE_GEN = "beta/image-gen"
OLD = "gamma/old"


def d(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def build_catalogue() -> None:
    make_model(
        SMALL,
        name="Alpha Small",
        description="A tiny helper for classification.",
        context_length=32000,
        supported_parameters=["temperature", "tools"],
        created=d(2025, 1, 1),
        prices=[(T0, {"prompt": "0.0000001", "completion": "0.0000004"})],
    )
    make_model(
        VISION,
        name="Alpha Vision Pro",
        description="Sees images, reasons at length.",
        context_length=200000,
        input_modalities=["text", "image"],
        supported_parameters=["reasoning", "structured_outputs", "tools"],
        created=d(2025, 6, 1),
        max_completion_tokens=64000,
        prices=[
            (
                T0,
                {
                    "prompt": "0.000003",
                    "completion": "0.000015",
                    "input_cache_read": "0.0000003",
                    "input_cache_write": "0.00000375",
                    "web_search": "0.01",
                },
            )
        ],
    )
    make_model(
        FREE,
        name="Beta Free",
        context_length=128000,
        supported_parameters=["temperature"],
        created=d(2025, 3, 1),
        prices=[(T0, {"prompt": "0", "completion": "0"})],
    )
    make_model(
        AUTO,
        name="Router Auto",
        context_length=2000000,
        created=d(2024, 1, 1),
        prices=[(T0, {"prompt": None, "completion": None})],
    )
    make_model(
        IMAGE_GEN,
        name="Beta Image Gen",
        context_length=8192,
        output_modalities=["image", "text"],
        created=d(2025, 9, 1),
        prices=[
            (T0, {"prompt": "0.000001", "completion": "0.000004", "request": "0.0004", "image": "0.001"})
        ],
    )
    make_model(
        OLD,
        name="Gamma Old",
        context_length=4096,
        created=d(2023, 1, 1),
        retired_at=d(2026, 2, 1),
        prices=[(T0, {"prompt": "0.000002", "completion": "0.000002"})],
    )
