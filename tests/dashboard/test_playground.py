"""The playground page, its token endpoint and its ledger-row endpoint (HTTP, through the test client)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import CatalogModel, PriceVersion
from tests.conftest import PASSWORD
from usage.credentials import playground_token_claims
from usage.models import ApiKey, LedgerEntry

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 8, 1, tzinfo=UTC)


def make_model(model_id, *, name="", prompt="0.0000025", completion="0.00001", retired=False, params=None):
    model = CatalogModel.objects.create(
        model_id=model_id,
        name=name or model_id,
        author=model_id.split("/")[0],
        context_length=128000,
        supported_parameters=params if params is not None else ["temperature", "max_tokens"],
        first_seen=T0,
        last_seen=T0,
        retired_at=T0 if retired else None,
    )
    PriceVersion.objects.create(
        catalog_model=model,
        valid_from=T0 - timedelta(days=30),
        valid_to=T0,
        prompt=Decimal("0.000005"),
        completion=Decimal("0.00002"),
    )
    PriceVersion.objects.create(
        catalog_model=model,
        valid_from=T0,
        prompt=None if prompt is None else Decimal(prompt),
        completion=None if completion is None else Decimal(completion),
    )
    return model


def make_key(owner, name="key", **fields):
    secret = f"tl-test-{owner.pk if owner else 0}-{name}"
    return ApiKey.objects.create(
        name=name,
        owner=owner,
        prefix=hashlib.sha256(secret.encode()).hexdigest()[:12],
        secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
        **fields,
    )


def make_entry(api_key, model_id, **fields):
    values = {
        "api_key": api_key,
        "created_at": timezone.now(),
        "requested_model": model_id,
        "served_model": model_id,
        "http_status": 200,
        "status": LedgerEntry.Status.OK,
    }
    values.update(fields)
    return LedgerEntry.objects.create(**values)


def config_of(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="playground-config" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def member_client(client, member):
    client.login(username="member", password=PASSWORD)
    return client


def test_the_page_needs_a_login(client):
    response = client.get("/playground/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/playground/"


def test_the_picker_lists_current_models_with_prices_per_million_and_hides_retired_ones(member_client):
    make_model("openai/gpt-4o", name="OpenAI: GPT-4o")
    make_model("old/model", retired=True)
    make_model("openrouter/auto", name="Auto Router", prompt=None, completion=None, params=[])

    response = member_client.get("/playground/")

    assert response.status_code == 200
    models = config_of(response)["models"]
    assert models == [
        {
            "id": "openai/gpt-4o",
            "name": "OpenAI: GPT-4o",
            "context_length": 128000,
            "parameters": ["temperature", "max_tokens"],
            "reasoning": False,
            "prompt_per_m": "2.5",
            "completion_per_m": "10",
            "frequent": False,
        },
        {
            "id": "openrouter/auto",
            "name": "Auto Router",
            "context_length": 128000,
            "parameters": [],
            "reasoning": False,
            "prompt_per_m": None,
            "completion_per_m": None,
            "frequent": False,
        },
    ]
    html = response.content.decode()
    assert '<option value="openai/gpt-4o">OpenAI: GPT-4o · openai/gpt-4o</option>' in html
    assert "old/model" not in html


def test_the_users_most_used_models_come_first_and_other_users_traffic_does_not_count(
    member_client, member, outsider
):
    for model_id in ("a/one", "b/two", "c/three", "d/four"):
        make_model(model_id, params=["reasoning", "temperature"])
    make_model("e/retired", retired=True)
    mine = make_key(member)
    theirs = make_key(outsider, name="theirs")
    for _ in range(4):
        make_entry(mine, "e/retired")
    for _ in range(3):
        make_entry(mine, "c/three")
    make_entry(mine, "b/two")
    for _ in range(5):
        make_entry(theirs, "d/four")

    response = member_client.get("/playground/")

    models = config_of(response)["models"]
    assert [(m["id"], m["frequent"]) for m in models] == [
        ("c/three", True),
        ("b/two", True),
        ("a/one", False),
        ("d/four", False),
    ]
    assert models[0]["reasoning"] is True
    html = response.content.decode()
    assert html.index('<optgroup label="Your most used">') < html.index('<option value="c/three">')


def test_only_the_users_own_usable_keys_are_offered(member_client, member, outsider):
    make_key(member, name="mine")
    make_key(member, name="revoked", revoked_at=timezone.now())
    make_key(member, name="expired", expires_at=timezone.now() - timedelta(days=1))
    make_key(outsider, name="theirs")

    keys = config_of(member_client.get("/playground/"))["keys"]

    assert [k["name"] for k in keys] == ["mine"]


def test_a_token_for_the_playground_key_creates_that_key_once(member_client, member):
    first = member_client.post("/playground/token/", {"key": "playground"})
    second = member_client.post("/playground/token/", {"key": "playground"})

    assert first.status_code == 200
    key = ApiKey.objects.get(owner=member, is_playground=True)
    assert ApiKey.objects.count() == 1
    for response in (first, second):
        body = response.json()
        assert body["token"].startswith("tlpg_")
        assert body["expires_in"] == 3600
        assert body["key"] == {"id": key.pk, "name": key.name, "prefix": key.prefix}
        claims = playground_token_claims(body["token"])
        assert (claims.user_id, claims.key_id) == (member.pk, key.pk)
    assert key.secret_hash not in first.content.decode()


def test_a_token_for_one_of_the_users_keys(member_client, member):
    key = make_key(member, name="mine")

    response = member_client.post("/playground/token/", {"key": str(key.pk)})

    claims = playground_token_claims(response.json()["token"])
    assert (claims.user_id, claims.key_id) == (member.pk, key.pk)
    assert not ApiKey.objects.filter(is_playground=True).exists()


@pytest.mark.parametrize("choice", ["theirs", "revoked", "nonsense", "999999"])
def test_a_token_for_a_key_that_is_not_the_users_usable_key_is_refused(
    member_client, member, outsider, choice
):
    keys = {
        "theirs": make_key(outsider, name="theirs").pk,
        "revoked": make_key(member, name="revoked", revoked_at=timezone.now()).pk,
    }

    response = member_client.post("/playground/token/", {"key": keys.get(choice, choice)})

    assert response.status_code == 400
    assert response.json()["error"]["message"] in (
        "That key is not one of your usable keys.",
        "Choose one of your keys.",
    )


def test_the_token_endpoint_only_answers_post(member_client):
    assert member_client.get("/playground/token/").status_code == 405


REQUEST_ID = "0123456789abcdef0123456789abcdef"


def test_the_ledger_row_of_a_reply_gives_tokens_and_exact_costs(member_client, member):
    key = make_key(member)
    entry = make_entry(
        key,
        "openai/gpt-4o",
        generation_id="gen-123",
        request_id=REQUEST_ID,
        prompt_tokens=1200,
        cached_tokens=200,
        completion_tokens=300,
        reasoning_tokens=100,
        computed_cost=Decimal("0.00575"),
        reported_cost=Decimal("0.005750000"),
        latency_ms=812,
        ttft_ms=230,
    )

    response = member_client.get("/playground/ledger-row/", {"request_id": REQUEST_ID})

    assert response.status_code == 200
    assert response.json() == {
        "id": entry.pk,
        "request_id": REQUEST_ID,
        "url": f"/activity/request/{REQUEST_ID}/",
        "status": "ok",
        "http_status": 200,
        "requested_model": "openai/gpt-4o",
        "served_model": "openai/gpt-4o",
        "provider": "",
        "prompt_tokens": 1200,
        "cached_tokens": 200,
        "cache_write_tokens": 0,
        "completion_tokens": 300,
        "reasoning_tokens": 100,
        "computed_cost": "0.00575",
        "reported_cost": "0.00575",
        "latency_ms": 812,
        "ttft_ms": 230,
    }


def test_the_ledger_row_is_the_requests_own_not_another_with_its_generation_id(member_client, member):
    key = make_key(member)
    make_entry(key, "openai/gpt-4o", generation_id="gen-1", request_id="a" * 32)
    hit = make_entry(
        key, "openai/gpt-4o", generation_id="gen-1", request_id=REQUEST_ID, status=LedgerEntry.Status.CACHED
    )

    response = member_client.get("/playground/ledger-row/", {"request_id": REQUEST_ID})

    assert (response.json()["id"], response.json()["status"]) == (hit.pk, "cached")


def test_the_ledger_row_of_another_users_key_is_not_found(member_client, outsider):
    make_entry(make_key(outsider), "openai/gpt-4o", request_id=REQUEST_ID)

    response = member_client.get("/playground/ledger-row/", {"request_id": REQUEST_ID})

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No ledger row for that request yet."


def test_the_ledger_row_needs_a_request_id(member_client, member):
    make_entry(make_key(member), "openai/gpt-4o", generation_id="gen-123", request_id=REQUEST_ID)

    response = member_client.get("/playground/ledger-row/", {"generation_id": "gen-123"})

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "request_id is required."


def test_the_page_reads_the_catalogue_in_a_constant_number_of_queries(
    member_client, member, django_assert_max_num_queries
):
    key = make_key(member)
    for number in range(30):
        make_model(f"author{number}/model")
        make_entry(key, f"author{number}/model")

    with django_assert_max_num_queries(10):  # 8, and aliases with their members
        response = member_client.get("/playground/")

    assert len(config_of(response)["models"]) == 30


def test_most_used_models_count_rolled_up_hours_and_the_raw_ledger_since(member_client, member):
    from usage.services.rollups import rollup_catch_up

    for model_id in ("a/one", "b/two", "c/three"):
        make_model(model_id)
    key = make_key(member)
    for _ in range(3):
        make_entry(key, "a/one", created_at=timezone.now() - timedelta(days=2))
    for _ in range(2):
        # Requested through a router: the model that served counts.
        make_entry(
            key, "openrouter/auto", served_model="b/two", created_at=timezone.now() - timedelta(days=2)
        )
    for _ in range(5):
        make_entry(key, "b/two", created_at=timezone.now() - timedelta(days=40))  # too long ago
    rollup_catch_up()
    LedgerEntry.objects.all().delete()  # as retention would: the rollups keep the counts
    for _ in range(4):
        make_entry(key, "c/three")  # not rolled up yet

    models = config_of(member_client.get("/playground/"))["models"]

    assert [(m["id"], m["frequent"]) for m in models] == [("c/three", True), ("a/one", True), ("b/two", True)]


def test_the_picker_offers_the_enabled_aliases(member_client):
    from usage.models import Alias, AliasMember

    make_model("openai/gpt-4o", name="OpenAI: GPT-4o")
    make_model("anthropic/claude-sonnet-4", name="Claude")
    alias = Alias.objects.create(name="team/smart", strategy="cheapest")
    for position, model_id in enumerate(["anthropic/claude-sonnet-4", "openai/gpt-4o"]):
        AliasMember.objects.create(alias=alias, position=position, model=model_id)
    Alias.objects.create(name="team/off", enabled=False)

    response = member_client.get("/playground/")

    assert config_of(response)["aliases"] == [
        {
            "id": "team/smart",
            "strategy": "cheapest",
            "members": ["anthropic/claude-sonnet-4", "openai/gpt-4o"],
        }
    ]
    html = re.sub(r">\s+<", "><", response.content.decode())
    assert (
        '<optgroup label="Aliases"><option value="team/smart">team/smart (cheapest)</option></optgroup>'
        in html
    )
    assert "team/off" not in html


@pytest.mark.django_db
def test_without_an_openrouter_key_the_playground_says_so_plainly(client, member, settings):
    client.force_login(member)
    settings.OPENROUTER_API_KEY = ""
    html = client.get("/playground/").content.decode()
    notice = re.search(r'<p class="card error" id="pg-no-key" role="alert">(.*?)</p>', html, re.S).group(1)
    assert re.sub(r"\s+", " ", notice) == (
        "This server has no <code>OPENROUTER_API_KEY</code>, so OpenRouter models cannot answer here (only "
        "models of your own upstreams can). Set it in the server's environment (see <code>.env.example</code>) "
        "and restart."
    )
    settings.OPENROUTER_API_KEY = "sk-or-set"
    assert 'id="pg-no-key"' not in client.get("/playground/").content.decode()
