"""How often the worst-case budget bound (usage/gateway/worst_case.py) refuses a request that would fit.

    .venv/bin/pip install tokenizers
    pip download anthropic==0.34.2 --no-deps -d /tmp/anth
    unzip -o /tmp/anth/*.whl anthropic/tokenizer.json -d /tmp/anth
    .venv/bin/python bench/budget_bound.py --tokenizer /tmp/anth/anthropic/tokenizer.json

The real token counts come from a real tokenizer (Claude's, as the anthropic SDK shipped it up to 0.34, the
only one installable offline); the bound never sees it. The request mix, drawn with a fixed seed:

- prompts of real text (this repository's docs and code, and the catalogue's model descriptions): a system
  prompt and 1 to 6 messages, 200 to 80 000 characters in all (log-uniform);
- `max_tokens` 256, 512, 1 024, 2 048 or 4 096, or none (one request in five: the model's max completion);
- the real output: 10 % to 100 % of `max_tokens` (of 1 024 when none was sent), uniform;
- the model: claude-sonnet-4, gpt-4o-mini or gemini-2.5-flash at their catalogue prices.

A key with a $5 budget spends it request by request. Each request is admitted when its worst case fits what
is left, and then spends its real cost. Refused requests are counted as "would have fitted" when their real
cost was within what was left. Figures are for 20 such keys.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from usage.gateway.worst_case import ModelLimits, prompt_bound, worst_case  # noqa: E402

MODELS = ("anthropic/claude-sonnet-4", "openai/gpt-4o-mini", "google/gemini-2.5-flash")
BUDGET = Decimal(5)
MAX_TOKENS = (256, 512, 1024, 2048, 4096, None)


def listing() -> list[dict]:
    return json.loads(gzip.decompress((ROOT / "catalog/seed/models-2026-08-19.json.gz").read_bytes()))["data"]


def catalogue() -> dict[str, tuple[dict, ModelLimits]]:
    out = {}
    for item in listing():
        if item["id"] in MODELS:
            pricing = {k: Decimal(v) for k, v in item["pricing"].items() if isinstance(v, str)}
            top = item.get("top_provider") or {}
            limits = ModelLimits(item.get("context_length"), top.get("max_completion_tokens"))
            out[item["id"]] = (pricing, limits)
    return out


def corpus() -> str:
    parts = [p.read_text() for p in sorted(ROOT.glob("docs/*.md"))]
    parts += [p.read_text() for p in sorted(ROOT.glob("usage/gateway/*.py"))]
    parts += [item.get("description") or "" for item in listing()]
    return "\n\n".join(parts)


def real_cost(prices: dict, prompt_tokens: int, output_tokens: int) -> Decimal:
    return prompt_tokens * prices["prompt"] + output_tokens * prices["completion"] + prices.get("request", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="a tokenizer.json (see the docstring)")
    parser.add_argument("--keys", type=int, default=20)
    args = parser.parse_args()
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(args.tokenizer)
    text = corpus()
    models = catalogue()
    rng = random.Random(16)
    ratios, admitted, refused_fit, refused_other = [], 0, 0, 0
    for _ in range(args.keys):
        left = BUDGET
        misses = 0
        while misses < 20:
            size = int(math.exp(rng.uniform(math.log(200), math.log(80_000))))
            start = rng.randrange(0, len(text) - size)
            chunk = text[start : start + size]
            pieces = rng.randint(1, 6)
            step = max(1, len(chunk) // pieces)
            messages = [{"role": "system", "content": "You are a careful assistant."}]
            messages += [
                {"role": "user" if i % 2 == 0 else "assistant", "content": chunk[i * step : (i + 1) * step]}
                for i in range(pieces)
            ]
            model = rng.choice(MODELS)
            body = {"model": model, "messages": messages}
            wanted = rng.choice(MAX_TOKENS)
            if wanted is not None:
                body["max_tokens"] = wanted
            prices, limits = models[model]
            prompt_tokens = sum(len(tokenizer.encode(m["content"]).ids) + 4 for m in messages)
            output_tokens = int((wanted or 1024) * rng.uniform(0.1, 1.0))
            bound = prompt_bound(body)
            ratios.append(bound.tokens / prompt_tokens)
            case = worst_case(body, prices, limits, bound)
            cost = real_cost(prices, prompt_tokens, output_tokens)
            worst = Decimal(case.amount) / 10**9
            if worst <= left:
                admitted += 1
                left -= cost
                misses = 0
            elif cost <= left:
                refused_fit += 1
                misses += 1
            else:
                refused_other += 1
                misses += 1
    total = admitted + refused_fit + refused_other
    ratios.sort()
    print(f"requests: {total} over {args.keys} keys of ${BUDGET}")
    print(f"admitted: {admitted}")
    print(f"refused, would have fitted: {refused_fit} ({100 * refused_fit / total:.2f}% of all requests)")
    print(f"refused, would not have fitted: {refused_other}")
    print(
        "prompt bound / real prompt tokens: "
        f"median {ratios[len(ratios) // 2]:.2f}, p5 {ratios[len(ratios) // 20]:.2f}, min {ratios[0]:.2f}"
    )


if __name__ == "__main__":
    main()
