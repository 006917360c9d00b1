"""/models/ over the real 414-model snapshot, checked against figures computed straight from the JSON."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from tests.catalog.page_factories import DATA, sync_snapshot

pytestmark = pytest.mark.django_db

SNAPSHOT = json.loads((DATA / "models-2026-08-19.json").read_text())["data"]
M = Decimal(1_000_000)


def price(entry, category: str) -> Decimal | None:
    raw = entry["pricing"].get(category, "0")
    return None if raw == "-1" else Decimal(raw)


def oracle(keep) -> set[str]:
    return {e["id"] for e in SNAPSHOT if keep(e)}


@pytest.fixture
def get(client, django_user_model, settings):
    sync_snapshot()
    client.force_login(django_user_model.objects.create_user("reader", password="x"))

    def _get(query: str) -> list[str]:
        response = client.get(f"/models/{query}")
        assert response.status_code == 200
        return re.findall(r'<tr data-model="([^"]+)"', response.content.decode())

    return _get


def test_every_filter_over_the_real_catalogue(get):
    assert len(get("")) == 414
    cases = {
        "?free=1": oracle(lambda e: price(e, "prompt") == 0 and price(e, "completion") == 0),
        "?author=anthropic": oracle(lambda e: e["id"].lstrip("~").startswith("anthropic/")),  # aliases too
        "?input_modality=audio": oracle(lambda e: "audio" in e["architecture"]["input_modalities"]),
        "?output_modality=image": oracle(lambda e: "image" in e["architecture"]["output_modalities"]),
        "?parameter=structured_outputs": oracle(lambda e: "structured_outputs" in e["supported_parameters"]),
        "?max_input=0.5": oracle(
            lambda e: price(e, "prompt") is not None and price(e, "prompt") * M <= Decimal("0.5")
        ),
        "?max_output=2": oracle(
            lambda e: price(e, "completion") is not None and price(e, "completion") * M <= 2
        ),
        "?min_context=1000000": oracle(lambda e: (e.get("context_length") or 0) >= 1_000_000),
        "?q=llama": oracle(
            lambda e: "llama" in f"{e['id']}\n{e['name']}\n{e.get('description') or ''}".lower()
        ),
    }
    for query, expected in cases.items():
        shown = get(query)
        assert set(shown) == expected, query
        assert 0 < len(shown) < 414, query


def test_sorting_the_real_catalogue_by_input_price(get):
    priced = [e for e in SNAPSHOT if price(e, "prompt") is not None]
    variable = sorted(e["id"] for e in SNAPSHOT if price(e, "prompt") is None)
    cheapest_first = [
        e["id"] for e in sorted(sorted(priced, key=lambda e: e["id"]), key=lambda e: price(e, "prompt"))
    ]
    assert get("?sort=input") == cheapest_first + variable
    dearest = max(priced, key=lambda e: price(e, "prompt"))
    shown = get("?sort=-input")
    assert shown[0] == dearest["id"]
    assert shown[-len(variable) :] == variable


def test_prices_of_known_models(client, get):
    get("")
    html = client.get("/models/?q=openai/gpt-4o").content.decode()
    row = re.search(r'<tr data-model="openai/gpt-4o">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)[1:5] == ["$2.50", "$10.00", "$1.25", "—"]
    html = client.get("/models/?q=openrouter/auto").content.decode()
    row = re.search(r'<tr data-model="openrouter/auto">(.*?)</tr>', html, re.S).group(1)
    assert "variable price" in row
    assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)[1:3] == ["variable", "variable"]


def test_a_search_lists_id_and_name_matches_before_description_ones(get):
    claude = get("?q=claude")
    anthropic = [model_id for model_id in claude if model_id.lstrip("~").startswith("anthropic/")]
    # Every Anthropic model first (their ids hold "claude", "~" ones are aliases), then models that only
    # mention it.
    assert claude[: len(anthropic)] == anthropic
    assert len(anthropic) == len([e for e in SNAPSHOT if e["id"].lstrip("~").startswith("anthropic/claude")])
    described = oracle(lambda e: "claude" in e["description"].lower() and "claude" not in e["id"].lower())
    assert described and set(claude[len(anthropic) :]) <= described | oracle(
        lambda e: "claude" in e["name"].lower()
    )

    gpt = get("?q=gpt-4o")
    assert gpt[0] == "openai/gpt-4o"  # the id itself, then ids that start with it
    starts = [model_id for model_id in gpt if model_id.split("/")[1].startswith("gpt-4o")]
    assert gpt[: len(starts)] == starts
    assert "relace/relace-apply-3" not in gpt[: len(starts)]


def test_a_search_with_a_sort_chosen_keeps_that_sort(get):
    assert get("?q=gpt-4o&sort=input")[0] != "openai/gpt-4o"  # the cheapest gpt-4o match instead
