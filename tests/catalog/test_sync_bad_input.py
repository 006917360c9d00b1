"""Every bad listing or failed fetch leaves the catalogue exactly as it was and is recorded as a failed run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from django.core.management import CommandError, call_command

from catalog.models import SyncRun
from catalog.services.sync import catalog_fetch_and_sync, catalog_sync
from tests.catalog.sync_data import DATA, catalogue_state, entries

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 1, tzinfo=UTC)
T1 = datetime(2026, 5, 2, tzinfo=UTC)
SNAPSHOT = "models-2026-08-19.json"


@pytest.fixture
def catalogue():
    """Forty real models, synced: what a bad sync must not damage."""
    run = catalog_sync(payload={"data": entries(SNAPSHOT)[:40]}, source="baseline", now=T0)
    assert run.status == "ok"
    return catalogue_state()


def listing_with(change) -> bytes:
    data = entries(SNAPSHOT)[:40]
    change(data)
    return json.dumps({"data": data}).encode()


def drop(key):
    return lambda data: data[3].pop(key)


def set_price(name, value):
    return lambda data: data[5]["pricing"].__setitem__(name, value)


TRUNCATED = (DATA / SNAPSHOT).read_bytes()[:5000]
BAD_BODIES = {
    "truncated JSON": (
        TRUNCATED,
        f"the body is cut short: its JSON ends after {len(TRUNCATED.strip())} characters",
    ),
    "HTML error page": (
        b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
        "the body is HTML, not JSON: '<!DOCTYPE html><html><body><h1>502 Bad G'",
    ),
    "empty body": (b"", "the body is empty"),
    "blank body": (b"  \n", "the body is empty"),
    "not JSON": (b"OK", "the body is not valid JSON (Expecting value at line 1, column 1)"),
    "NaN": (
        b'[{"id": "a/b", "pricing": {"prompt": NaN, "completion": "0"}}]',
        "the body is not valid JSON (NaN is not a JSON number)",
    ),
    "no models": (b'{"data": []}', "the listing has no models: refusing to retire the whole catalogue"),
    "data not a list": (b'{"data": {"id": "x"}}', '"data" is not a list but an object'),
    "no data key": (
        b'{"error": {"message": "rate limited"}}',
        'the payload has no "data" list (keys: error)',
    ),
    "a string": (b'"hello"', '"data" is not a list but a string'),
    "duplicate ids": (
        listing_with(lambda data: data.append(dict(data[7]))),
        f"model id {entries(SNAPSHOT)[7]['id']!r} appears twice",
    ),
    "model without id": (listing_with(drop("id")), "model #4 has no id"),
    "model without pricing": (
        listing_with(drop("pricing")),
        f"model {entries(SNAPSHOT)[3]['id']!r} has no pricing",
    ),
    "model not an object": (
        listing_with(lambda data: data.__setitem__(2, "x")),
        "model #3 is a string, not an object",
    ),
    "price not a decimal": (
        listing_with(set_price("prompt", "0.000001 USD")),
        f"model {entries(SNAPSHOT)[5]['id']!r}: price 'prompt' is not a decimal number: '0.000001 USD'",
    ),
    "optional price not a decimal": (
        listing_with(set_price("image", "free")),
        f"model {entries(SNAPSHOT)[5]['id']!r}: price 'image' is not a decimal number: 'free'",
    ),
    "price NaN": (
        listing_with(set_price("completion", "NaN")),
        f"model {entries(SNAPSHOT)[5]['id']!r}: price 'completion' is not a decimal number: 'NaN'",
    ),
    "negative price": (
        listing_with(set_price("completion", "-0.5")),
        f"model {entries(SNAPSHOT)[5]['id']!r}: price 'completion' is negative: '-0.5'",
    ),
    "prompt missing": (
        listing_with(lambda data: data[5]["pricing"].pop("prompt")),
        f"model {entries(SNAPSHOT)[5]['id']!r}: price 'prompt' is missing",
    ),
}


@pytest.mark.parametrize("body, error", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_listing_changes_nothing_and_is_recorded_failed(catalogue, body, error):
    run = catalog_sync(payload=body, source="bad", now=T1)

    assert (run.status, run.error) == ("failed", error)
    assert catalogue_state() == catalogue
    assert SyncRun.objects.filter(status="ok").count() == 1


@pytest.mark.parametrize(
    "name",
    ["truncated JSON", "HTML error page", "empty body", "no models", "data not a list", "duplicate ids"],
)
def test_the_command_reports_a_bad_file_in_one_line(catalogue, tmp_path, name):
    body, error = BAD_BODIES[name]
    path = tmp_path / "listing.json"
    path.write_bytes(body)

    with pytest.raises(CommandError) as failure:
        call_command("sync_catalog", "--from-file", str(path))

    assert str(failure.value) == f"sync failed: {error}"
    assert catalogue_state() == catalogue


def test_the_command_reports_a_missing_file(catalogue, tmp_path):
    with pytest.raises(CommandError) as failure:
        call_command("sync_catalog", "--from-file", str(tmp_path / "nope.json"))

    assert (
        str(failure.value) == f"sync failed: cannot read {tmp_path / 'nope.json'}: No such file or directory"
    )
    assert SyncRun.objects.latest("pk").status == "failed"


def failing_api(status: int | None):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if status is None:
            raise httpx.ReadTimeout("read timed out", request=request)
        return httpx.Response(status, text="<html>busy</html>", headers={"Retry-After": "0"})

    return httpx.MockTransport(handler), calls


@pytest.mark.parametrize(
    "status, error",
    [
        (429, "HTTP 429 Too Many Requests from https://openrouter.test/api/v1/models (3 attempts)"),
        (500, "HTTP 500 Internal Server Error from https://openrouter.test/api/v1/models (3 attempts)"),
        (503, "HTTP 503 Service Unavailable from https://openrouter.test/api/v1/models (3 attempts)"),
        (None, "timed out after 30 s waiting for https://openrouter.test/api/v1/models (3 attempts)"),
        (404, "HTTP 404 Not Found from https://openrouter.test/api/v1/models"),
    ],
    ids=["429", "500", "503", "timeout", "404"],
)
def test_an_api_that_keeps_failing_changes_nothing(catalogue, settings, status, error):
    settings.OPENROUTER_BASE_URL = "https://openrouter.test/api/v1"
    settings.CATALOG_FETCH_BACKOFF_SECONDS = 0
    transport, calls = failing_api(status)

    run = catalog_fetch_and_sync(transport=transport, now=T1)

    assert (run.status, run.error, run.source) == ("failed", error, "https://openrouter.test/api/v1/models")
    assert len(calls) == (1 if status == 404 else 3)
    assert catalogue_state() == catalogue
