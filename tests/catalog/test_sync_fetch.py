"""Fetching the Models API: headers, retries with backoff, and the task and command over a real socket."""

from __future__ import annotations

import httpx
import pytest
from django.core.management import call_command

from catalog.fetch import FetchError, fetch_models
from catalog.models import CatalogModel, PriceVersion, SyncRun
from catalog.services.sync import catalog_fetch_and_sync
from catalog.tasks import sync_catalog
from tests.catalog.sync_data import DATA
from tests.conftest import LiveASGIServer

URL = "https://openrouter.test/api/v1/models"
BODY = b'{"data": [{"id": "acme/a", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}]}'


def api(*responses):
    """A MockTransport answering with the given (status, headers) / exception, then 200 BODY."""
    seen = []
    queue = list(responses)

    def handler(request):
        seen.append(request)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            status, headers = answer
            return httpx.Response(status, headers=headers, text="busy")
        return httpx.Response(200, content=BODY)

    return httpx.MockTransport(handler), seen


def test_it_sends_the_attribution_headers_and_no_key_when_none_is_set(settings):
    settings.OPENROUTER_API_KEY = ""
    transport, seen = api()

    assert fetch_models(url=URL, transport=transport) == BODY
    assert seen[0].headers["HTTP-Referer"] == settings.OPENROUTER_REFERER
    assert seen[0].headers["X-Title"] == "Tokenledger"
    assert "Authorization" not in seen[0].headers


def test_it_sends_the_key_when_one_is_set(settings):
    settings.OPENROUTER_API_KEY = "sk-or-v1-test"
    transport, seen = api()

    fetch_models(url=URL, transport=transport)

    assert seen[0].headers["Authorization"] == "Bearer sk-or-v1-test"


def test_it_retries_429_and_5xx_with_a_doubling_backoff_then_succeeds():
    transport, seen = api((429, {}), (502, {}))
    waits = []

    assert fetch_models(url=URL, transport=transport, sleep=waits.append) == BODY
    assert (len(seen), waits) == (3, [1.0, 2.0])


def test_a_retry_after_header_sets_the_wait_and_is_capped():
    transport, _ = api((429, {"Retry-After": "7"}), (503, {"Retry-After": "3600"}))
    waits = []

    fetch_models(url=URL, transport=transport, sleep=waits.append)

    assert waits == [7.0, 60.0]


def test_a_timeout_is_retried():
    transport, seen = api(httpx.ConnectTimeout("slow"))

    assert fetch_models(url=URL, transport=transport, sleep=lambda s: None) == BODY
    assert len(seen) == 2


def test_it_gives_up_after_the_configured_attempts(settings):
    settings.CATALOG_FETCH_ATTEMPTS = 2
    transport, seen = api((500, {}), (500, {}), (500, {}))

    with pytest.raises(FetchError, match=r"^HTTP 500 Internal Server Error from .* \(2 attempts\)$"):
        fetch_models(url=URL, transport=transport, sleep=lambda s: None)
    assert len(seen) == 2


@pytest.mark.django_db
def test_a_fetch_that_succeeds_after_a_retry_syncs(settings):
    settings.CATALOG_FETCH_BACKOFF_SECONDS = 0
    transport, _ = api((429, {}))

    run = catalog_fetch_and_sync(url=URL, transport=transport)

    assert (run.status, run.source, run.added) == ("ok", URL, 1)


class ListingApp:
    """A tiny ASGI Models API on loopback: GET /api/v1/models answers a saved listing."""

    def __init__(self, body: bytes):
        self.body = body
        self.requests: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.requests.append({k.decode(): v.decode() for k, v in scope["headers"]})
        found = scope["path"] == "/api/v1/models"
        await send(
            {
                "type": "http.response.start",
                "status": 200 if found else 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": self.body if found else b"{}"})


@pytest.fixture
def listing_server():
    app = ListingApp((DATA / "models-2026-04-21.data-array.json").read_bytes())
    server = LiveASGIServer(app).start()
    server.app_state = app
    yield server
    server.stop()


def catalogue_rows() -> tuple[list, list]:
    models = list(
        CatalogModel.objects.order_by("model_id").values_list("model_id", "name", "retired_at", "raw")
    )
    prices = list(
        PriceVersion.objects.order_by("catalog_model__model_id").values_list(
            "catalog_model__model_id", "prompt", "completion", "input_cache_read", "extra", "valid_to"
        )
    )
    return models, prices


@pytest.mark.django_db
def test_the_task_and_the_command_give_the_same_result_from_a_live_endpoint(listing_server, settings):
    settings.OPENROUTER_BASE_URL = f"{listing_server.url}/api/v1"

    task_run = SyncRun.objects.get(pk=sync_catalog.apply().get())
    by_task = catalogue_rows()
    SyncRun.objects.all().delete()
    PriceVersion.objects.all().delete()
    CatalogModel.objects.all().delete()
    out = []
    call_command("sync_catalog", "--url", f"{listing_server.url}/api/v1/models", stdout=Writer(out))

    assert out == ["sync ok: models=343 added=343 repriced=0 retired=0 unchanged=0\n"]
    assert (task_run.status, task_run.source, task_run.added) == (
        "ok",
        f"{listing_server.url}/api/v1/models",
        343,
    )
    assert catalogue_rows() == by_task
    assert listing_server.app_state.requests[0]["x-title"] == "Tokenledger"


class Writer:
    def __init__(self, lines: list[str]):
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


def test_a_url_that_is_not_http_fails_at_once():
    waits = []

    with pytest.raises(FetchError, match=r"^not an http\(s\) URL: 'ftp://example.com/models'$"):
        fetch_models(url="ftp://example.com/models", sleep=waits.append)
    assert waits == []
