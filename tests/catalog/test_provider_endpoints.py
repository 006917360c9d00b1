"""Provider endpoints of a model: fetched from /models/{author}/{slug}/endpoints, replaced whole, shown on
the model page with a "Refresh providers" button; a bad response changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from catalog.models import CatalogModel, ProviderEndpoint
from catalog.services.provider_endpoints import EndpointsError, catalog_fetch_endpoints
from tests.catalog.page_factories import make_model
from tests.conftest import LiveASGIServer

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

BODY = {
    "data": {
        "id": "meta-llama/llama-3.3-70b-instruct",
        "name": "Meta: Llama 3.3 70B Instruct",
        "created": 1733506137,
        "description": "Llama 3.3 70B.",
        "architecture": {"tokenizer": "Llama3", "instruct_type": "llama3", "modality": "text->text"},
        "endpoints": [
            {
                "name": "DeepInfra | meta-llama/llama-3.3-70b-instruct",
                "model_name": "Meta: Llama 3.3 70B Instruct",
                "context_length": 131072,
                "pricing": {"prompt": "0.00000023", "completion": "0.0000004", "request": "0", "image": "0"},
                "provider_name": "DeepInfra",
                "tag": "deepinfra/fp8",
                "quantization": "fp8",
                "max_completion_tokens": 16384,
                "max_prompt_tokens": None,
                "supported_parameters": ["max_tokens", "temperature", "tools"],
                "status": 0,
                "uptime_last_30m": 99.51,
                "supports_implicit_caching": False,
                "latency_last_30m": {"p50": 412, "p75": 530, "p90": 800, "p99": 1500},
                "throughput_last_30m": {"p50": 31.5, "p75": 28.1, "p90": 20.0, "p99": 9.2},
            },
            {
                "name": "Groq | meta-llama/llama-3.3-70b-instruct",
                "context_length": 131072,
                "pricing": {"prompt": "0.00000059", "completion": "0.00000079"},
                "provider_name": "Groq",
                "tag": "groq",
                "quantization": None,
                "max_completion_tokens": 32768,
                "max_prompt_tokens": None,
                "supported_parameters": ["max_tokens"],
                "status": 0,
                "uptime_last_30m": None,
            },
        ],
    }
}


@pytest.fixture
def llama():
    return make_model("meta-llama/llama-3.3-70b-instruct")


def transport(seen: list, status: int = 200, body: bytes | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(status, content=body if body is not None else json.dumps(BODY).encode())

    return httpx.MockTransport(handler)


@pytest.fixture(autouse=True)
def _fetch_settings(settings):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    settings.OPENROUTER_API_KEY = "sk-or-endpoints"
    settings.CATALOG_FETCH_ATTEMPTS = 2
    settings.CATALOG_FETCH_BACKOFF_SECONDS = 0.0


def rows():
    return list(
        ProviderEndpoint.objects.order_by("provider_name").values_list(
            "provider_name",
            "tag",
            "quantization",
            "context_length",
            "max_completion_tokens",
            "prompt",
            "completion",
        )
    )


def test_it_fetches_and_stores_each_provider_endpoint(llama):
    seen = []
    endpoints = catalog_fetch_endpoints(model_id=llama.model_id, transport=transport(seen), now=NOW)

    assert seen == [
        (
            "https://openrouter.example/api/v1/models/meta-llama/llama-3.3-70b-instruct/endpoints",
            "Bearer sk-or-endpoints",
        )
    ]
    assert len(endpoints) == 2
    assert rows() == [
        ("DeepInfra", "deepinfra/fp8", "fp8", 131072, 16384, Decimal("0.00000023"), Decimal("0.0000004")),
        ("Groq", "groq", "", 131072, 32768, Decimal("0.00000059"), Decimal("0.00000079")),
    ]
    deepinfra = ProviderEndpoint.objects.get(provider_name="DeepInfra")
    assert (deepinfra.catalog_model, deepinfra.fetched_at, deepinfra.status) == (llama, NOW, "0")
    assert (deepinfra.uptime_last_30m, deepinfra.max_prompt_tokens) == (99.51, None)
    assert deepinfra.latency_last_30m == {"p50": 412, "p75": 530, "p90": 800, "p99": 1500}
    assert deepinfra.throughput_last_30m["p50"] == 31.5
    assert deepinfra.pricing == {
        "prompt": "0.00000023",
        "completion": "0.0000004",
        "request": "0",
        "image": "0",
    }
    assert deepinfra.supported_parameters == ["max_tokens", "temperature", "tools"]
    assert ProviderEndpoint.objects.get(provider_name="Groq").uptime_last_30m is None


def test_a_new_fetch_replaces_the_models_rows_and_leaves_other_models_alone(llama):
    other = make_model("openai/gpt-4o-mini")
    catalog_fetch_endpoints(model_id=other.model_id, transport=transport([]), now=NOW)
    catalog_fetch_endpoints(model_id=llama.model_id, transport=transport([]), now=NOW)
    one = {"data": {**BODY["data"], "endpoints": BODY["data"]["endpoints"][1:]}}

    catalog_fetch_endpoints(
        model_id=llama.model_id, transport=transport([], body=json.dumps(one).encode()), now=LATER
    )

    assert list(llama.endpoints.values_list("provider_name", "fetched_at")) == [("Groq", LATER)]
    assert other.endpoints.count() == 2


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            503,
            b"",
            "HTTP 503 Service Unavailable from "
            "https://openrouter.example/api/v1/models/meta-llama/llama-3.3-70b-instruct/endpoints (2 attempts)",
        ),
        (
            404,
            b'{"error": {"code": 404, "message": "Model not found"}}',
            "HTTP 404 Not Found from "
            "https://openrouter.example/api/v1/models/meta-llama/llama-3.3-70b-instruct/endpoints",
        ),
        (200, b"<html>maintenance</html>", "the body is HTML, not JSON: '<html>maintenance</html>'"),
        (200, b'{"data": {"id": "x"}}', 'the body has no "data": {"endpoints": [...]} list'),
        (200, b'{"data": {"endpoints": [{"name": "x"}]}}', "endpoint 0 has no provider_name"),
        (
            200,
            b'{"data": {"endpoints": [{"provider_name": "Bad", "pricing": {"prompt": "cheap"}}]}}',
            "endpoint 0 (Bad): model 'meta-llama/llama-3.3-70b-instruct': price 'prompt' is not a decimal "
            "number: 'cheap'",
        ),
    ],
)
def test_a_bad_response_changes_nothing(llama, status, body, message):
    catalog_fetch_endpoints(model_id=llama.model_id, transport=transport([]), now=NOW)
    before = rows()

    with pytest.raises(EndpointsError) as caught:
        catalog_fetch_endpoints(model_id=llama.model_id, transport=transport([], status, body), now=LATER)

    assert str(caught.value) == message
    assert rows() == before
    assert set(ProviderEndpoint.objects.values_list("fetched_at", flat=True)) == {NOW}


def test_an_unknown_model_is_refused_without_a_request():
    seen = []
    with pytest.raises(EndpointsError) as caught:
        catalog_fetch_endpoints(model_id="nobody/nothing", transport=transport(seen))
    assert str(caught.value) == "unknown model 'nobody/nothing': sync the catalogue first"
    assert seen == []


class EndpointsServer:
    """A loopback OpenRouter that answers only the endpoints API (and records the paths asked for)."""

    def __init__(self):
        self.paths = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        self.paths.append(scope["path"])
        status, body = (
            (200, json.dumps(BODY).encode()) if scope["path"].endswith("/endpoints") else (404, b"{}")
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def loopback_openrouter(settings):
    app = EndpointsServer()
    server = LiveASGIServer(app, lifespan="off").start()
    settings.OPENROUTER_BASE_URL = f"{server.url}/api/v1"
    yield app
    server.stop()


def test_refresh_providers_on_the_model_page_fetches_over_loopback_and_shows_the_table(
    client, member, llama, loopback_openrouter
):
    client.force_login(member)
    page = client.get("/models/meta-llama/llama-3.3-70b-instruct/").content.decode()
    assert "No provider endpoints fetched yet." in page
    assert 'action="/providers/refresh/"' in page

    response = client.post("/providers/refresh/", {"model": llama.model_id}, follow=True)

    assert loopback_openrouter.paths == ["/api/v1/models/meta-llama/llama-3.3-70b-instruct/endpoints"]
    assert response.redirect_chain == [("/models/meta-llama/llama-3.3-70b-instruct/", 302)]
    html = response.content.decode()
    assert "Providers refreshed: 2 endpoint(s)." in html
    start = html.index('<tr id="provider-deepinfrafp8" data-provider="DeepInfra">')
    row = html[start : html.index("</tr>", start)]
    for cell in ("fp8", "131,072", "16,384", "$0.23", "$0.40", "99.5%", "412", "31.5"):
        assert f">{cell}<" in row
    assert [e.provider_name for e in response.context["providers"]] == ["DeepInfra", "Groq"]


def test_a_failed_refresh_says_why_and_keeps_the_page(client, member, llama, settings):
    settings.OPENROUTER_BASE_URL = "http://127.0.0.1:9/api/v1"
    settings.CATALOG_FETCH_ATTEMPTS = 1
    client.force_login(member)
    response = client.post("/providers/refresh/", {"model": llama.model_id}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Providers not refreshed: cannot reach http://127.0.0.1:9/api/v1/models/meta-llama/" in html
    assert ProviderEndpoint.objects.count() == 0


def test_refresh_needs_a_post_and_a_known_model(client, member):
    client.force_login(member)
    assert client.get("/providers/refresh/").status_code == 405
    assert client.post("/providers/refresh/", {"model": "nobody/nothing"}).status_code == 404


def test_the_spend_page_links_each_provider_to_its_models_providers(client, admin_user, time_machine):
    from tests.usage.spend_data import NOW as SPEND_NOW
    from tests.usage.spend_data import build_ledger

    time_machine.move_to(SPEND_NOW, tick=False)
    build_ledger(member=admin_user, admin=admin_user)
    gpt = CatalogModel.objects.get(model_id="openai/gpt-4o")
    ProviderEndpoint.objects.create(
        catalog_model=gpt, provider_name="Azure", tag="azure", prompt=Decimal("0.0000025"),
        completion=Decimal("0.00001"), context_length=128000, uptime_last_30m=97.25, fetched_at=NOW,
    )  # fmt: skip
    client.force_login(admin_user)

    spend = client.get("/spend/?range=today").content.decode()
    assert '<td><a href="/providers/Azure/">Azure</a></td>' in spend
    assert '<td><a href="/providers/Anthropic/">Anthropic</a></td>' in spend
    assert "<td>(no provider)</td>" in spend

    page = client.get("/providers/Azure/").content.decode()
    start = page.index('<tr data-model="openai/gpt-4o">')
    row = page[start : page.index("</tr>", start)]
    assert '<a href="/models/openai/gpt-4o/#model-providers">openai/gpt-4o</a>' in row
    for cell in ("azure", "128,000", "$2.50", "$10.00", "97.3%", "2026-11-30 12:00 UTC"):
        assert f">{cell}<" in row
    empty = client.get("/providers/Anthropic/").content.decode()
    assert "No endpoints of Anthropic fetched yet" in empty


def test_the_page_script_gets_the_refresh_result_as_json(client, member, llama, loopback_openrouter):
    client.force_login(member)
    response = client.post("/providers/refresh/", {"model": llama.model_id}, HTTP_ACCEPT="application/json")
    assert (response.status_code, response.json()) == (
        200,
        {"ok": True, "message": "Providers refreshed: 2 endpoint(s)."},
    )
    assert ProviderEndpoint.objects.count() == 2
    # the message went back with the answer, not into the next page's flash messages
    assert (
        "Providers refreshed" not in client.get("/models/meta-llama/llama-3.3-70b-instruct/").content.decode()
    )


def test_a_failed_refresh_answers_the_page_script_why(client, member, llama, settings):
    settings.OPENROUTER_BASE_URL = "http://127.0.0.1:9/api/v1"
    settings.CATALOG_FETCH_ATTEMPTS = 1
    client.force_login(member)
    response = client.post("/providers/refresh/", {"model": llama.model_id}, HTTP_ACCEPT="application/json")
    assert response.status_code == 502
    assert response.json()["ok"] is False
    assert response.json()["message"].startswith(
        "Providers not refreshed: cannot reach http://127.0.0.1:9/api/v1/models/meta-llama/"
    )
