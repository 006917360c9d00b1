"""The scheduled provider-endpoints fetch: models with traffic in the last 7 days only (task and command)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import httpx
import pytest
import time_machine
from django.core.management import CommandError, call_command

from catalog.models import CatalogModel, ProviderEndpoint
from tests.catalog.page_factories import make_model
from tests.catalog.test_provider_endpoints import BODY
from usage.models import HourlyRollup, LedgerEntry
from usage.selectors.traffic import models_with_recent_traffic
from usage.services.traffic_endpoints import provider_endpoints_sync_recent
from usage.tasks import sync_provider_endpoints

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def traffic(settings):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    settings.CATALOG_FETCH_ATTEMPTS = 1
    recent, rolled, old = (make_model(m) for m in ("alpha/recent", "beta/rolled", "gamma/old"))
    make_model("delta/unused")
    ours = make_model("local/ours")  # a model of another upstream: OpenRouter has no providers for it
    CatalogModel.objects.filter(pk=ours.pk).update(source=CatalogModel.Source.MANUAL)
    LedgerEntry.objects.create(
        created_at=NOW - timedelta(days=1), requested_model="local/ours", served_model="local/ours",
        catalog_model=ours, http_status=200, status="ok",
    )  # fmt: skip
    for model, when in ((recent, NOW - timedelta(days=2)), (old, NOW - timedelta(days=8))):
        LedgerEntry.objects.create(
            created_at=when, requested_model=model.model_id, served_model=model.model_id, catalog_model=model,
            http_status=200, status="ok",
        )  # fmt: skip
    HourlyRollup.objects.create(hour=NOW - timedelta(days=6), model="beta/rolled", status="ok", requests=3)
    HourlyRollup.objects.create(
        hour=NOW - timedelta(days=1), model="not/in-catalogue", status="ok", requests=1
    )
    return recent, rolled


def handler_for(seen: list, failing: str = ""):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if failing and failing in request.url.path:
            return httpx.Response(404, json={"error": {"code": 404}})
        return httpx.Response(200, content=json.dumps(BODY).encode())

    return httpx.MockTransport(handler)


def test_the_selector_lists_catalogue_models_with_traffic_in_the_window(traffic):
    assert models_with_recent_traffic(since=NOW - timedelta(days=7)) == ["alpha/recent", "beta/rolled"]


def test_only_models_with_recent_traffic_are_fetched_and_a_failure_does_not_stop_the_rest(traffic):
    seen = []
    result = provider_endpoints_sync_recent(now=NOW, transport=handler_for(seen, failing="alpha"))

    assert seen == ["/api/v1/models/alpha/recent/endpoints", "/api/v1/models/beta/rolled/endpoints"]
    assert (result.fetched, result.endpoints) == (1, 2)
    assert result.failed == {
        "alpha/recent": "HTTP 404 Not Found from https://openrouter.example/api/v1/models/alpha/recent/endpoints"
    }
    assert set(ProviderEndpoint.objects.values_list("catalog_model__model_id", flat=True)) == {"beta/rolled"}


@time_machine.travel(NOW, tick=False)
def test_the_task_and_the_command_fetch_the_recent_models(traffic, monkeypatch):
    seen = []
    real_client = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real_client(**{**kw, "transport": handler_for(seen)}))
    assert sync_provider_endpoints.apply().get() == 2
    out = StringIO()
    call_command("sync_provider_endpoints", stdout=out)
    assert out.getvalue() == "endpoints ok: models=2 endpoints=4 failed=0\n"
    assert len(seen) == 4
    assert ProviderEndpoint.objects.count() == 4


def test_the_command_fails_with_one_line_for_a_bad_model():
    with pytest.raises(CommandError) as caught:
        call_command("sync_provider_endpoints", "--model", "nobody/nothing")
    assert str(caught.value) == (
        "endpoints of nobody/nothing failed: unknown model 'nobody/nothing': sync the catalogue first"
    )
