"""GET /api/v1/models in OpenRouter's full shape: public without a key (OpenRouter's models only), with a key
what it may use, manual models and aliases included, each with `pricing` (read by the openai SDK and by a
CascadeFlow-style pricing loop)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import openai
import pytest

from catalog.services.manual_models import manual_model_add, price_version_add
from catalog.services.sync import catalog_sync_file
from tests.conftest import DATA
from tests.usage.gateway_data import SINCE, make_catalogue
from usage.models import Alias, AliasMember, Upstream

SNAPSHOT = DATA / "models-2026-08-19.json"
OPENROUTER_IDS = [
    "anthropic/claude-sonnet-4",
    "deepseek/deepseek-r1",
    "openai/gpt-4o-mini",
    "openrouter/auto",
]
OPENROUTER_FIELDS = [
    "id", "canonical_slug", "hugging_face_id", "name", "created", "description", "context_length",
    "architecture", "pricing", "top_provider", "per_request_limits", "supported_parameters",
    "default_parameters", "supported_voices", "knowledge_cutoff", "expiration_date", "links",
]  # fmt: skip


@pytest.fixture
def catalogue(transactional_db):
    make_catalogue()
    Upstream.objects.create(name="local", base_url="http://127.0.0.1:9/v1", model_prefix="local/")
    model = manual_model_add(
        model_id="local/qwen3-8b", name="Qwen3 8B (ours)", context_length=32768, now=SINCE
    )
    price_version_add(
        catalog_model=model,
        valid_from=SINCE,
        prices={"prompt": Decimal("0.0000001"), "completion": Decimal("0.0000002"), "request": None},
    )
    alias = Alias.objects.create(name="team/cheap", strategy="ordered")
    AliasMember.objects.create(alias=alias, position=0, model="local/qwen3-8b")
    AliasMember.objects.create(alias=alias, position=1, model="openai/gpt-4o-mini")


def cascadeflow_prices(data: list[dict]) -> dict[str, tuple[Decimal, Decimal]]:
    """CascadeFlow's pricing loop: `pricing` read on every entry, no `.get`."""
    return {
        entry["id"]: (Decimal(entry["pricing"]["prompt"]), Decimal(entry["pricing"]["completion"]))
        for entry in data
    }


def test_without_a_key_it_lists_openrouters_models_only(gateway_server, catalogue):
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key="unused", max_retries=0)

    # The SDK's way to send no Authorization header at all.
    ids = sorted(model.id for model in client.models.list(extra_headers={"Authorization": openai.Omit()}))
    response = httpx.get(f"{gateway_server.api_url}/models")

    assert ids == OPENROUTER_IDS
    assert response.status_code == 200
    assert cascadeflow_prices(response.json()["data"]) == {
        "anthropic/claude-sonnet-4": (Decimal("0.000003"), Decimal("0.000015")),
        "deepseek/deepseek-r1": (Decimal("0.0000004"), Decimal("0.000002")),
        "openai/gpt-4o-mini": (Decimal("0.00000015"), Decimal("0.0000006")),
        "openrouter/auto": (Decimal(-1), Decimal(-1)),
    }


def test_with_a_key_it_lists_manual_models_and_aliases_priced(gateway_server, catalogue, make_api_key):
    secret = make_api_key(allowed_models=["local/*", "openai/*"])
    client = openai.OpenAI(base_url=gateway_server.api_url, api_key=secret, max_retries=0)

    ids = [model.id for model in client.models.list()]
    data = httpx.get(
        f"{gateway_server.api_url}/models", headers={"Authorization": f"Bearer {secret}"}
    ).json()["data"]

    assert ids == ["local/qwen3-8b", "openai/gpt-4o-mini", "team/cheap"]
    assert cascadeflow_prices(data) == {
        "local/qwen3-8b": (Decimal("0.0000001"), Decimal("0.0000002")),
        "openai/gpt-4o-mini": (Decimal("0.00000015"), Decimal("0.0000006")),
        "team/cheap": (Decimal("0.0000001"), Decimal("0.0000002")),  # its first member's
    }
    manual, alias = data[0], data[2]
    assert list(manual) == OPENROUTER_FIELDS
    assert manual["pricing"] == {"prompt": "0.0000001", "completion": "0.0000002", "request": "-1"}
    assert (manual["name"], manual["context_length"], manual["created"]) == (
        "Qwen3 8B (ours)",
        32768,
        1767225600,
    )
    assert manual["architecture"] == {
        "modality": "text->text",
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "tokenizer": "Other",
        "instruct_type": None,
    }
    assert list(alias) == [*OPENROUTER_FIELDS, "tokenledger_alias"]
    assert (alias["id"], alias["name"], alias["description"]) == (
        "team/cheap",
        "team/cheap",
        "Alias (ordered) for local/qwen3-8b, openai/gpt-4o-mini",
    )
    assert alias["tokenledger_alias"] == {
        "strategy": "ordered",
        "members": ["local/qwen3-8b", "openai/gpt-4o-mini"],
    }
    assert alias["pricing"] == manual["pricing"]


def test_a_wrong_key_is_refused(gateway_server, catalogue):
    response = httpx.get(f"{gateway_server.api_url}/models", headers={"Authorization": "Bearer tl-wrong"})

    assert response.status_code == 401


def test_synced_entries_are_openrouters_own(gateway_server, transactional_db):
    listing = json.loads(SNAPSHOT.read_text())["data"]
    assert catalog_sync_file(path=SNAPSHOT).status == "ok"

    data = httpx.get(f"{gateway_server.api_url}/models").json()["data"]

    assert {entry["id"]: entry for entry in data} == {entry["id"]: entry for entry in listing}
    assert len(cascadeflow_prices(data)) == 414
