"""The worst-case bound admission reserves (usage/gateway/worst_case.py), exact, from request bodies."""

import base64
from decimal import Decimal

import orjson

from usage.gateway.worst_case import (
    FREE,
    IMAGE_TOKENS,
    UNKNOWN_OUTPUT_TOKENS,
    ModelLimits,
    prompt_bound,
    worst_case,
    worst_of,
)

PRICES = {
    "prompt": Decimal("0.000003"),
    "completion": Decimal("0.000015"),
    "input_cache_write": Decimal("0.00000375"),
    "input_cache_write_1h": Decimal("0.000006"),
    "internal_reasoning": None,
    "image": Decimal("0.001"),
    "request": Decimal("0.0001"),
}


def test_text_is_bounded_by_the_bodys_bytes():
    body = {"model": "m", "messages": [{"role": "user", "content": "héllo wörld"}]}
    assert prompt_bound(body).tokens == len(orjson.dumps(body))


def test_images_count_a_fixed_bound_each_whatever_their_size_and_files_their_decoded_bytes():
    data = base64.b64encode(b"x" * 30_000).decode()
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {
                        "type": "file",
                        "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{data}"},
                    },
                ],
            }
        ]
    }
    stripped = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "what is this?"}, None, None, None]}
        ]
    }
    bound = prompt_bound(body)
    assert bound.images == 2
    assert bound.tokens == len(orjson.dumps(stripped)) + 2 * IMAGE_TOKENS + 30_000


def test_the_worst_case_prices_input_at_the_dearest_write_and_output_at_max_tokens_times_n():
    body = {"messages": [], "max_tokens": 1000, "n": 2}
    bound = prompt_bound(body)
    case = worst_case(body, PRICES, ModelLimits(), bound)
    # input at the 1-hour cache write price ($6/M), 2 000 output tokens at $15/M, the $0.0001 request fee
    expected = bound.tokens * Decimal("0.000006") + 2000 * Decimal("0.000015") + Decimal("0.0001")
    assert case.amount == int(expected * 10**9)
    assert case.output_tokens == 2000
    assert case.affordable(case.fixed + 15_000 * 7) == 7  # $15/M = 15 000 nanodollars a token


def test_without_max_tokens_the_model_limits_bound_the_output():
    bound = prompt_bound({"messages": []})
    assert worst_case({}, PRICES, ModelLimits(200_000, 64_000), bound).output_tokens == 64_000
    assert worst_case({}, PRICES, ModelLimits(200_000, None), bound).output_tokens == 200_000 - bound.tokens
    assert worst_case({}, PRICES, ModelLimits(), bound).output_tokens == UNKNOWN_OUTPUT_TOKENS


def test_a_model_without_prices_is_free_and_a_variable_one_takes_the_dearest():
    body = {"messages": [], "max_tokens": 10}
    assert worst_case(body, None, ModelLimits(), prompt_bound(body)) is FREE
    variable = {"prompt": None, "completion": None}
    dearest = {"prompt": Decimal("0.00001"), "completion": Decimal("0.0001")}
    case = worst_of(body, ["router"], lambda m, n: variable, lambda m: ModelLimits(), lambda n: dearest)
    assert case.amount == int(
        (prompt_bound(body).tokens * Decimal("0.00001") + 10 * Decimal("0.0001")) * 10**9
    )


def test_the_worst_of_an_alias_is_its_dearest_member():
    body = {"messages": [], "max_tokens": 10}
    cheap = {"prompt": Decimal("0.0000001"), "completion": Decimal("0.0000002")}
    prices = {"cheap": cheap, "dear": PRICES}
    case = worst_of(body, ["cheap", "dear"], lambda m, n: prices[m], lambda m: ModelLimits(), lambda n: None)
    assert case == worst_case(body, PRICES, ModelLimits(), prompt_bound(body))


def test_an_endpoint_without_output_reserves_its_prompt_alone():
    body = {"model": "m", "input": ["some text", "more text"]}
    bound = prompt_bound(body)
    prices = lambda model, tokens: PRICES  # noqa: E731

    case = worst_of(body, ["m"], prices, lambda m: ModelLimits(8000, 4000), lambda n: None, has_output=False)

    assert case.output_tokens == 0
    assert (
        case.amount == bound.tokens * 6000 + 100_000
    )  # at the dearest input price (1 h write), plus the fee
