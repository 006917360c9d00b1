"""Alias selection (usage/gateway/strategies.py): expected tokens, blended prices, each strategy, price ceilings;
and the ledger's p50 latency per served model (usage.selectors.model_latency_p50)."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from usage.gateway.plan import list_alias
from usage.gateway.strategies import blended_price_per_million, expected_tokens, order_members
from usage.models import LedgerEntry
from usage.routing import AliasMemberSpec, AliasSpec
from usage.selectors.traffic import model_latency_p50

from .gateway_data import MODELS

GPT = "openai/gpt-4o-mini"  # 0.15 / 0.6 USD per 1M tokens
CLAUDE = "anthropic/claude-sonnet-4"  # 3 / 15
DEEPSEEK = "deepseek/deepseek-r1"  # 0.4 / 2
AUTO = "openrouter/auto"  # no prices

PRICES = {
    model_id: {
        "prompt": None if prompt is None else Decimal(prompt),
        "completion": None if completion is None else Decimal(completion),
    }
    for model_id, (prompt, completion, *_rest) in MODELS.items()
}
PRICES["twin/a"] = dict(PRICES[DEEPSEEK])
PRICES["twin/b"] = dict(PRICES[DEEPSEEK])

# 400 characters -> 100 input tokens; 100 output tokens: blended = (prompt + completion) / 2.
BODY = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 100}


def alias(strategy: str, *members) -> AliasSpec:
    specs = []
    for member in members:
        model, weight, ceiling = (member, 1, None) if isinstance(member, str) else member
        specs.append(AliasMemberSpec(model, weight, None if ceiling is None else Decimal(ceiling)))
    return AliasSpec(name="team/test", strategy=strategy, members=tuple(specs))


def run(spec: AliasSpec, *, body=BODY, latency=None, rng=None, endpoint="chat/completions"):
    return order_members(
        spec,
        body=body,
        endpoint=endpoint,
        price_for=lambda model, _tokens: PRICES.get(model),
        latency_p50=latency or {},
        rng=rng or random.Random(0),
    )


# ---- expected_tokens ----


def test_chat_input_counts_string_contents_and_text_parts_over_four_rounded_up():
    body = {
        "messages": [
            {"role": "system", "content": "abcd" * 3},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a-long-url.png"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1"}]},
        ]
    }
    assert expected_tokens(body, "chat/completions") == (5, 256)  # 17 characters


def test_input_is_at_least_one_token():
    assert expected_tokens({"messages": []}, "chat/completions") == (1, 256)
    assert expected_tokens({}, "completions") == (1, 256)


def test_output_is_max_tokens_or_max_completion_tokens_when_a_non_negative_int():
    chat = {"messages": [{"role": "user", "content": "abcdefgh"}]}
    assert expected_tokens({**chat, "max_tokens": 40}, "chat/completions") == (2, 40)
    assert expected_tokens({**chat, "max_completion_tokens": 50}, "chat/completions") == (2, 50)
    assert expected_tokens({**chat, "max_tokens": 0}, "chat/completions") == (2, 0)
    assert expected_tokens({**chat, "max_tokens": -1, "max_completion_tokens": 7}, "chat/completions") == (
        2,
        7,
    )
    assert expected_tokens({**chat, "max_tokens": "100"}, "chat/completions") == (2, 256)
    assert expected_tokens({**chat, "max_tokens": True}, "chat/completions") == (2, 256)
    assert expected_tokens({**chat, "max_tokens": 12.0}, "chat/completions") == (2, 256)


def test_completions_prompt_as_string_list_of_strings_and_token_ids():
    assert expected_tokens({"prompt": "a" * 9}, "completions") == (3, 256)
    assert expected_tokens({"prompt": ["ab", "cde"]}, "completions") == (2, 256)
    assert expected_tokens({"prompt": [101, 7, 9, 3, 2], "max_tokens": 0}, "completions") == (5, 0)
    assert expected_tokens({"prompt": [[1, 2], [3, 4, 5]]}, "completions") == (5, 256)


def test_the_chat_endpoint_ignores_a_prompt_and_completions_ignores_messages():
    messages = [{"role": "user", "content": "a" * 40}]
    assert expected_tokens({"prompt": "a" * 40, "messages": messages}, "chat/completions") == (10, 256)
    assert expected_tokens({"prompt": "a" * 8, "messages": messages}, "completions") == (2, 256)


def test_messages_responses_and_embeddings_bodies():
    system = [{"type": "text", "text": "b" * 8}]
    messages = [{"role": "user", "content": [{"type": "text", "text": "a" * 8}]}]
    assert expected_tokens({"system": system, "messages": messages, "max_tokens": 9}, "messages") == (4, 9)
    assert expected_tokens({"system": "s" * 4, "messages": messages}, "messages") == (3, 256)
    items = [{"role": "user", "content": [{"type": "input_text", "text": "a" * 12}]}]
    assert expected_tokens({"input": items, "max_output_tokens": 7}, "responses") == (3, 7)
    assert expected_tokens({"input": "a" * 16}, "responses") == (4, 256)
    assert expected_tokens({"input": ["ab", [1, 2, 3]]}, "embeddings") == (4, 0)
    assert expected_tokens({"input": "a" * 8, "max_tokens": 5}, "embeddings") == (2, 0)


# ---- blended_price_per_million ----


def test_blended_price_weights_prompt_and_completion_prices_by_the_token_mix():
    assert blended_price_per_million(PRICES[GPT], (100, 100)) == Decimal("0.375")
    assert blended_price_per_million(PRICES[GPT], (3, 1)) == Decimal("0.2625")
    assert blended_price_per_million(PRICES[CLAUDE], (1, 0)) == Decimal("3")


def test_no_blended_price_without_usable_prices():
    assert blended_price_per_million(None, (100, 100)) is None
    assert blended_price_per_million({}, (100, 100)) is None
    assert blended_price_per_million(PRICES[AUTO], (100, 100)) is None
    assert blended_price_per_million({"prompt": Decimal("-1"), "completion": Decimal("-1")}, (1, 1)) is None
    assert blended_price_per_million({"prompt": Decimal("0.000001"), "completion": None}, (1, 1)) is None


# ---- strategies ----


def test_ordered_keeps_the_alias_order():
    result = run(alias("ordered", CLAUDE, GPT, AUTO, DEEPSEEK))
    assert (result.models, result.skipped, result.strategy) == ([CLAUDE, GPT, AUTO, DEEPSEEK], [], "ordered")


def test_cheapest_sorts_by_blended_price_unknown_last_ties_in_alias_order():
    result = run(alias("cheapest", CLAUDE, AUTO, "twin/b", DEEPSEEK, GPT, "twin/a"))
    assert result.models == [GPT, "twin/b", DEEPSEEK, "twin/a", CLAUDE, AUTO]
    assert result.strategy == "cheapest"


def test_cheapest_depends_on_the_token_mix():
    prices = {"in/cheap": {"prompt": Decimal("0.000001"), "completion": Decimal("0.00001")}}
    prices["out/cheap"] = {"prompt": Decimal("0.000004"), "completion": Decimal("0.000002")}
    spec = alias("cheapest", "in/cheap", "out/cheap")

    def choose(body):
        return order_members(
            spec,
            body=body,
            endpoint="chat/completions",
            price_for=lambda model, _tokens: prices.get(model),
            latency_p50={},
            rng=None,
        ).models

    long_prompt = {"messages": [{"role": "user", "content": "x" * 40000}], "max_tokens": 10}
    long_answer = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 4000}
    assert choose(long_prompt) == ["in/cheap", "out/cheap"]
    assert choose(long_answer) == ["out/cheap", "in/cheap"]


def test_fastest_sorts_by_p50_latency_unmeasured_last_in_alias_order():
    latency = {DEEPSEEK: 300, GPT: 800, CLAUDE: 450}
    result = run(alias("fastest", AUTO, GPT, "twin/a", CLAUDE, DEEPSEEK), latency=latency)
    assert result.models == [DEEPSEEK, CLAUDE, GPT, AUTO, "twin/a"]
    assert result.strategy == "fastest"


def test_fastest_uses_the_base_model_latency_for_a_suffixed_member():
    result = run(alias("fastest", CLAUDE, f"{GPT}:nitro"), latency={GPT: 100, CLAUDE: 200})
    assert result.models == [f"{GPT}:nitro", CLAUDE]


def test_weighted_picks_the_first_at_random_by_weight_then_the_rest_in_alias_order():
    spec = alias("weighted", (GPT, 1, None), (CLAUDE, 3, None), (DEEPSEEK, 6, None))
    rng = random.Random(7)
    plans = [run(spec, rng=rng).models for _ in range(8)]
    assert plans == [
        [CLAUDE, GPT, DEEPSEEK],
        [CLAUDE, GPT, DEEPSEEK],
        [DEEPSEEK, GPT, CLAUDE],
        [GPT, CLAUDE, DEEPSEEK],
        [DEEPSEEK, GPT, CLAUDE],
        [CLAUDE, GPT, DEEPSEEK],
        [GPT, CLAUDE, DEEPSEEK],
        [DEEPSEEK, GPT, CLAUDE],
    ]


def test_weighted_never_picks_a_zero_weight_member_first():
    spec = alias("weighted", (GPT, 0, None), (CLAUDE, 0, None), (DEEPSEEK, 5, None))
    rng = random.Random(1)
    assert {tuple(run(spec, rng=rng).models) for _ in range(20)} == {(DEEPSEEK, GPT, CLAUDE)}


# ---- price ceilings ----


def test_members_above_their_ceiling_or_without_a_price_are_skipped_with_a_reason():
    spec = alias(
        "cheapest",
        (CLAUDE, 1, "2.000000"),
        (DEEPSEEK, 1, "1"),
        (AUTO, 1, "5"),
        (GPT, 1, "0.375"),  # equal to its price: kept
        "twin/a",  # no ceiling: kept
    )
    result = run(spec)
    assert result.models == [GPT, "twin/a"]
    assert result.skipped == [
        {"model": CLAUDE, "reason": "price 9 above ceiling 2"},
        {"model": DEEPSEEK, "reason": "price 1.2 above ceiling 1"},
        {"model": AUTO, "reason": "no price"},
    ]


def test_skipped_price_texts_are_rounded_to_six_decimals_without_exponents():
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 256}  # 100 in, 256 out
    result = run(alias("ordered", (CLAUDE, 1, "100.000000"), (GPT, 1, "0.5")), body=body)
    # Claude: (100 * 3 + 256 * 15) / 356 = 11.6292134...; GPT: (15 + 153.6) / 356 = 0.4735955...
    assert result.models == [CLAUDE, GPT]
    result = run(alias("ordered", (CLAUDE, 1, "10.5"), (GPT, 1, "0.4")), body=body)
    assert result.models == []
    assert result.skipped == [
        {"model": CLAUDE, "reason": "price 11.629213 above ceiling 10.5"},
        {"model": GPT, "reason": "price 0.473596 above ceiling 0.4"},
    ]


def test_ceiling_text_for_a_large_round_value_has_no_exponent():
    prices = {"big/model": {"prompt": Decimal("0.0003"), "completion": Decimal("0.0003")}}  # 300 per 1M
    spec = alias("ordered", ("big/model", 1, "1.000000E+2"))
    result = order_members(
        spec,
        body={},
        endpoint="completions",
        price_for=lambda model, _tokens: prices.get(model),
        latency_p50={},
        rng=None,
    )
    assert result.skipped == [{"model": "big/model", "reason": "price 300 above ceiling 100"}]


def test_every_member_skipped_leaves_no_model():
    result = run(alias("weighted", (CLAUDE, 1, "1"), (AUTO, 2, "1")))
    assert (result.models, result.strategy) == ([], "weighted")
    assert [s["model"] for s in result.skipped] == [CLAUDE, AUTO]


def test_a_model_list_is_an_anonymous_ordered_alias_without_repeats():
    spec = list_alias([CLAUDE, GPT, CLAUDE])
    assert spec == AliasSpec(
        name="",
        strategy="ordered",
        members=(AliasMemberSpec(CLAUDE, 1, None), AliasMemberSpec(GPT, 1, None)),
    )
    assert run(spec).models == [CLAUDE, GPT]


# ---- p50 latency from the ledger ----

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(model: str, latency_ms: int, *, minutes_ago: int = 1, status: str = "ok") -> LedgerEntry:
    return LedgerEntry(
        created_at=NOW - timedelta(minutes=minutes_ago),
        requested_model=model,
        served_model=model,
        http_status=200 if status == "ok" else 502,
        status=status,
        latency_ms=latency_ms,
    )


def test_latency_p50_is_the_lower_median_of_ok_rows_since_the_given_time(db):
    LedgerEntry.objects.bulk_create(
        [
            entry(GPT, 100),
            entry(GPT, 300),
            entry(GPT, 200),
            entry(CLAUDE, 700),
            entry(CLAUDE, 500),
            entry(CLAUDE, 50, status="error"),
            entry(CLAUDE, 40, status="cancelled"),
            entry(DEEPSEEK, 900, minutes_ago=61),
            entry("", 10),
        ]
    )
    assert model_latency_p50(since=NOW - timedelta(hours=1)) == {GPT: 200, CLAUDE: 500}
    assert model_latency_p50(since=NOW - timedelta(hours=2)) == {GPT: 200, CLAUDE: 500, DEEPSEEK: 900}


def test_latency_p50_reads_only_the_newest_5000_rows(db):
    LedgerEntry.objects.bulk_create([entry("old/model", 5, minutes_ago=30)])
    LedgerEntry.objects.bulk_create([entry(GPT, 10 + i % 3, minutes_ago=1) for i in range(5000)])
    assert model_latency_p50(since=NOW - timedelta(hours=1)) == {GPT: 11}
