"""Admin changes apply from the very next request through the gateway, with every cache at an hour: the
configuration version (a file's mtime in DATA_DIR, or an integer in Redis) is compared per request."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from catalog.models import CatalogModel, PriceVersion
from catalog.services.manual_models import manual_model_add, price_version_add
from catalog.services.sync import catalog_sync
from tests.fakes.openrouter import FakeOpenRouter, Reply, serve
from tests.usage.gateway_data import MODELS, SINCE, make_catalogue
from tests.usage.test_aliases import ADD_URL, form_data
from usage.freshness import version_file, version_key
from usage.gateway.freshness import Freshness
from usage.models import ApiKey, Upstream
from usage.services.keys import api_key_revoke


@pytest.fixture(params=["file", "redis"])
def backend(request, settings):
    """The version in a file of DATA_DIR (Redis turned off), or in Redis (when the run has one)."""
    if request.param == "file":
        settings.REDIS_URL = None
    elif not settings.REDIS_URL:
        pytest.skip("no Redis configured (CELERY_BROKER_URL=redis://... or REDIS_URL)")
    return request.param


@pytest.fixture
def hour_long_caches(backend, _gateway_settings, settings):
    """Keys and the catalogue kept for an hour: only the version can make the gateway see a change."""
    settings.GATEWAY_KEY_CACHE_SECONDS = 3600
    settings.GATEWAY_CATALOG_REFRESH_SECONDS = 3600


@pytest.fixture
def catalogue(transactional_db):
    return make_catalogue()


@pytest.fixture
def local(catalogue):
    """A second upstream for "local/..." ids (its own fake), with a manual model priced from SINCE."""
    fake = FakeOpenRouter(default=Reply(text="Hello from local.", provider="", cost=None))
    server = serve(fake)
    Upstream.objects.create(name="local", base_url=fake.url, model_prefix="local/", enabled=True)
    model = manual_model_add(model_id="local/qwen3-8b", name="Qwen3 8B", now=SINCE)
    price_version_add(
        catalog_model=model,
        valid_from=SINCE,
        prices={"prompt": Decimal("0.0000001"), "completion": Decimal("0.0000002")},
    )
    yield fake
    server.stop()


@pytest.fixture
def gateway(hour_long_caches, catalogue, gateway_server):
    return gateway_server


def chat(gateway, secret: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.api_url}/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": model, "messages": [{"role": "user", "content": "Hi"}]},
        timeout=10,
    )


def test_a_new_alias_answers_its_very_first_request(gateway, make_api_key, client, admin_user):
    secret = make_api_key()
    assert chat(gateway, secret, "team/fast").status_code == 400  # not a model: the gateway has loaded
    client.force_login(admin_user)

    saved = client.post(ADD_URL, form_data("team/fast", ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4"]))
    reply = chat(gateway, secret, "team/fast")

    assert saved.status_code == 302
    assert reply.status_code == 200, reply.text
    assert gateway.fake.last.json["model"] == "openai/gpt-4o-mini"
    listed = httpx.get(f"{gateway.api_url}/models", headers={"Authorization": f"Bearer {secret}"}).json()
    assert listed["data"][-1]["id"] == "team/fast"


def test_a_strip_prefix_change_reaches_the_upstream_on_the_next_request(
    gateway, local, make_api_key, client, admin_user
):
    secret = make_api_key()
    assert chat(gateway, secret, "local/qwen3-8b").status_code == 200
    upstream = Upstream.objects.get(name="local")
    client.force_login(admin_user)

    saved = client.post(
        f"/admin/usage/upstream/{upstream.pk}/change/",
        {
            "name": "local",
            "base_url": local.url,
            "api_key_env": "",
            "model_prefix": "local/",
            "enabled": "on",
        },
    )  # strip_prefix unticked
    assert chat(gateway, secret, "local/qwen3-8b").status_code == 200

    assert saved.status_code == 302
    assert [request.json["model"] for request in local.requests] == ["qwen3-8b", "local/qwen3-8b"]


def test_a_revoked_key_is_refused_on_the_next_request(gateway, make_api_key):
    secret = make_api_key()
    assert chat(gateway, secret, "openai/gpt-4o-mini").status_code == 200

    api_key_revoke(api_key=ApiKey.objects.get())
    reply = chat(gateway, secret, "openai/gpt-4o-mini")

    assert reply.status_code == 401
    assert reply.json()["error"]["message"].endswith("… was revoked")


def test_new_key_limits_apply_at_once(gateway, make_api_key):
    secret = make_api_key()
    assert chat(gateway, secret, "openai/gpt-4o-mini").status_code == 200

    key = ApiKey.objects.get()
    key.rpm_limit = 1  # as the admin's change form saves it
    key.allowed_models = ["openai/*"]
    key.save()
    statuses = [
        chat(gateway, secret, model).status_code for model in ("deepseek/deepseek-r1", "openai/gpt-4o-mini")
    ]
    statuses.append(chat(gateway, secret, "openai/gpt-4o-mini").status_code)

    assert statuses == [403, 200, 429]


def test_a_new_manual_price_costs_the_next_request(gateway, local, make_api_key):
    secret = make_api_key()
    assert chat(gateway, secret, "local/qwen3-8b").status_code == 200
    model = CatalogModel.objects.get(model_id="local/qwen3-8b")

    version = price_version_add(
        catalog_model=model,
        valid_from=timezone.now() - timedelta(milliseconds=1),
        prices={"prompt": Decimal("0.000001"), "completion": Decimal("0.000002")},
    )
    assert chat(gateway, secret, "local/qwen3-8b").status_code == 200

    rows = gateway.ledger(2)
    assert [row.computed_cost for row in rows] == [Decimal("0.0000028"), Decimal("0.000028")]  # 12 + 8 tokens
    assert rows[1].price_version_id == version.pk


def test_a_sync_that_adds_a_model_lets_the_next_request_use_it(gateway, make_api_key):
    secret = make_api_key()
    assert chat(gateway, secret, "mistral/new-model").status_code == 400

    listing = [
        {
            "id": model_id,
            "name": model_id,
            "pricing": {"prompt": prices[0] or "-1", "completion": prices[1] or "-1"},
        }
        for model_id, prices in MODELS.items()
    ]
    listing.append(
        {"id": "mistral/new-model", "name": "New", "pricing": {"prompt": "0.000001", "completion": "0"}}
    )
    run = catalog_sync(payload={"data": listing}, source="test")
    reply = chat(gateway, secret, "mistral/new-model")

    assert (run.status, run.added) == ("ok", 1)
    assert reply.status_code == 200, reply.text


def test_writes_move_the_version(backend, transactional_db, settings):
    import redis

    def version():
        if backend == "redis":
            return redis.Redis.from_url(settings.REDIS_URL).get(version_key(settings.GATEWAY_REDIS_PREFIX))
        path = version_file(settings.DATA_DIR)
        return os.stat(path).st_mtime_ns if path.exists() else None

    settings.GATEWAY_REDIS_PREFIX = "tl:test:freshness:" + os.urandom(8).hex() + ":"
    seen = [version()]
    for write in (
        lambda: CatalogModel.objects.create(model_id="a/b", author="a", first_seen=SINCE, last_seen=SINCE),
        lambda: PriceVersion.objects.create(catalog_model=CatalogModel.objects.get(), valid_from=SINCE),
        lambda: Upstream.objects.create(
            name="local", base_url="http://127.0.0.1:9/v1", model_prefix="local/"
        ),
        lambda: PriceVersion.objects.get().delete(),
    ):
        write()
        seen.append(version())

    assert len(set(seen)) == 5  # each write a new version
    if backend == "redis":
        assert seen[1:] == [b"1", b"2", b"3", b"4"]


class CountingReload:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        await asyncio.sleep(0.01)


class Version:
    def __init__(self) -> None:
        self.value = 1

    async def read(self) -> int:
        return self.value


def test_requests_that_find_a_new_version_wait_for_one_reload():
    async def scenario() -> list[int]:
        version, reload = Version(), CountingReload()
        freshness = Freshness(version, reload)
        await freshness.load()
        calls = [reload.calls]
        await asyncio.gather(*(freshness.check() for _ in range(20)))
        calls.append(reload.calls)
        version.value = 2
        await asyncio.gather(*(freshness.check() for _ in range(20)))
        calls.append(reload.calls)
        return calls

    assert asyncio.run(scenario()) == [1, 1, 2]


class FailingOnce(Version):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def read(self) -> int:
        self.reads += 1
        if self.reads == 2:
            raise ConnectionError("Redis went away")
        return self.value


def test_after_a_failed_read_requests_go_on_and_the_next_second_reads_nothing(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("usage.gateway.freshness.monotonic", lambda: clock[0])

    async def scenario() -> list[tuple[int, int]]:
        version, reload = FailingOnce(), CountingReload()
        freshness = Freshness(version, reload)
        await freshness.load()  # read 1
        version.value = 2
        seen = []
        for advance in (0.0, 0.5, 0.6):
            clock[0] += advance
            await freshness.check()
            seen.append((version.reads, reload.calls))
        return seen

    # read 2 fails: no reload; 0.5 s later nothing is read; 1.1 s later read 3 finds version 2 and reloads
    assert asyncio.run(scenario()) == [(2, 1), (2, 1), (3, 2)]
