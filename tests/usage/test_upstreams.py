"""Upstreams: admin validation (URL, key variable, prefixes), routing by prefix, health probes and pruning."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from django.core.exceptions import ValidationError

from tests.conftest import run_manage
from tests.fakes.openrouter import FakeOpenRouter, Reply, serve
from usage.models import Upstream, UpstreamProbe
from usage.services.upstreams import upstream_probe_all, upstream_probes_prune, upstream_validate
from usage.tasks import probe_upstreams

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def add_form(**fields) -> dict:
    return (
        {"name": "local", "base_url": "http://127.0.0.1:8001/v1", "api_key_env": "", "model_prefix": "local/"}
        | {"enabled": "on"}
        | fields
    )


def test_the_migration_creates_the_default_openrouter_upstream():
    upstream = Upstream.objects.get()
    assert (
        upstream.name,
        upstream.base_url,
        upstream.api_key_env,
        upstream.model_prefix,
        upstream.enabled,
    ) == (
        "openrouter",
        "",
        "OPENROUTER_API_KEY",
        "",
        True,
    )


def test_the_admin_adds_a_keyless_local_upstream(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/usage/upstream/add/", add_form())
    assert response.status_code == 302
    assert Upstream.objects.filter(name="local", model_prefix="local/", api_key_env="").count() == 1


def test_the_admin_sets_the_endpoints_an_upstream_serves_and_refuses_unknown_ones(client, admin_user):
    client.force_login(admin_user)
    refused = client.post(
        "/admin/usage/upstream/add/", add_form(endpoints="chat/completions, messages, images")
    )
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "endpoints": [
            "Unknown endpoint images: choose among chat/completions, completions, messages, responses, embeddings."
        ]
    }
    response = client.post("/admin/usage/upstream/add/", add_form(endpoints="chat/completions, messages"))
    assert response.status_code == 302
    assert Upstream.objects.get(name="local").endpoints == "chat/completions, messages"


def test_the_admin_form_rejects_a_url_that_is_not_http(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/usage/upstream/add/", add_form(base_url="ftp://models.example/v1"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "base_url": [
            "The base URL must start with http:// or https:// and name a host: 'ftp://models.example/v1'."
        ]
    }
    assert not Upstream.objects.filter(name="local").exists()


def test_the_admin_form_rejects_a_key_variable_missing_from_the_environment(client, admin_user, monkeypatch):
    monkeypatch.delenv("TL_TEST_VLLM_KEY", raising=False)
    client.force_login(admin_user)
    response = client.post("/admin/usage/upstream/add/", add_form(api_key_env="TL_TEST_VLLM_KEY"))
    assert response.context["adminform"].form.errors == {
        "api_key_env": [
            "The environment variable TL_TEST_VLLM_KEY is not set in the server's environment: set it (and "
            "restart), leave this empty for a keyless server, or disable the upstream."
        ]
    }


def test_a_set_key_variable_is_accepted_and_its_value_is_never_stored_or_shown(
    client, admin_user, monkeypatch
):
    monkeypatch.setenv("TL_TEST_VLLM_KEY", "sk-vllm-secret-value")
    client.force_login(admin_user)
    assert (
        client.post("/admin/usage/upstream/add/", add_form(api_key_env="TL_TEST_VLLM_KEY")).status_code == 302
    )
    upstream = Upstream.objects.get(name="local")
    assert upstream.api_key_env == "TL_TEST_VLLM_KEY"
    page = client.get(f"/admin/usage/upstream/{upstream.pk}/change/").content.decode()
    assert "TL_TEST_VLLM_KEY" in page
    assert "sk-vllm-secret-value" not in page


def test_the_admin_form_rejects_overlapping_and_duplicate_prefixes(client, admin_user):
    Upstream.objects.create(name="local", base_url="http://127.0.0.1:8001/v1", model_prefix="local/")
    client.force_login(admin_user)
    response = client.post(
        "/admin/usage/upstream/add/", add_form(name="local-qwen", model_prefix="local/qwen/")
    )
    assert response.context["adminform"].form.errors == {
        "model_prefix": [
            "Prefix 'local/qwen/' overlaps prefix 'local/' of upstream 'local': a model id could match both."
        ]
    }
    response = client.post("/admin/usage/upstream/add/", add_form(name="second-default", model_prefix=""))
    assert response.context["adminform"].form.errors == {
        "model_prefix": [
            "Upstream 'openrouter' already has an empty prefix (the default upstream): each prefix can go to "
            "one upstream only."
        ]
    }


def test_a_disabled_upstream_may_name_an_unset_variable(monkeypatch):
    monkeypatch.delenv("TL_TEST_VLLM_KEY", raising=False)
    upstream = Upstream(
        name="later", base_url="https://x.example/v1", api_key_env="TL_TEST_VLLM_KEY", enabled=False
    )
    upstream.model_prefix = "later/"
    upstream_validate(upstream=upstream)
    upstream.enabled = True
    with pytest.raises(ValidationError):
        upstream_validate(upstream=upstream)


def test_a_model_goes_to_the_longest_matching_enabled_prefix(gateway_server, make_api_key):
    """Through the gateway: each id goes to the upstream with the longest enabled prefix it starts with."""
    local = FakeOpenRouter(default=Reply(text="Hello from local.", provider="", cost=None))
    qwen = FakeOpenRouter(default=Reply(text="Hello from qwen.", provider="", cost=None))
    servers = [serve(local), serve(qwen)]
    try:
        Upstream.objects.create(name="local", base_url=local.url, model_prefix="local/")
        Upstream.objects.create(name="qwen", base_url=qwen.url, model_prefix="local-qwen/")
        Upstream.objects.create(
            name="off", base_url="http://127.0.0.1:9/v1", model_prefix="off/", enabled=False
        )
        secret = make_api_key()
        for model in ("local/llama-3", "local-qwen/qwen3", "off/model", "openai/gpt-4o"):
            response = httpx.post(
                f"{gateway_server.api_url}/chat/completions",
                headers={"Authorization": f"Bearer {secret}"},
                json={"model": model, "messages": [{"role": "user", "content": "Hi"}]},
                timeout=10,
            )
            assert response.status_code == 200, (model, response.text)
    finally:
        for server in servers:
            server.stop()
    assert [request.json["model"] for request in local.requests] == ["llama-3"]
    assert [request.json["model"] for request in qwen.requests] == ["qwen3"]
    assert [request.json["model"] for request in gateway_server.fake.requests] == [
        "off/model",
        "openai/gpt-4o",
    ]


def probe_transport(seen: list) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        if request.url.host == "down.example":
            return httpx.Response(503)
        if request.url.host == "dead.example":
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json={"data": []})

    return httpx.MockTransport(handler)


@time_machine.travel(NOW, tick=False)
def test_probes_record_up_down_and_unreachable_and_send_each_key(settings, monkeypatch):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    settings.OPENROUTER_API_KEY = "sk-or-probe"
    monkeypatch.setenv("TL_TEST_DOWN_KEY", "sk-down")
    Upstream.objects.create(name="down", base_url="http://down.example/v1/", api_key_env="TL_TEST_DOWN_KEY")
    Upstream.objects.create(name="dead", base_url="http://dead.example/v1", model_prefix="dead/")
    Upstream.objects.create(name="off", base_url="http://off.example/v1", model_prefix="off/", enabled=False)
    seen = []

    probes = upstream_probe_all(transport=probe_transport(seen))

    assert sorted(seen) == [
        ("http://dead.example/v1/models", None),
        ("http://down.example/v1/models", "Bearer sk-down"),
        ("https://openrouter.example/api/v1/models", "Bearer sk-or-probe"),
    ]
    rows = {
        p.upstream.name: (p.checked_at, p.ok, p.http_status, p.error)
        for p in UpstreamProbe.objects.select_related("upstream")
    }
    assert rows == {
        "openrouter": (NOW, True, 200, ""),
        "down": (NOW, False, 503, "HTTP 503 Service Unavailable"),
        "dead": (NOW, False, None, "cannot connect: ConnectError"),
    }
    assert len(probes) == 3
    assert UpstreamProbe.objects.get(upstream__name="dead").latency_ms is None


def test_only_the_newest_probes_are_kept(settings):
    settings.UPSTREAM_PROBE_KEEP = 3
    upstream = Upstream.objects.get(name="openrouter")
    for minutes in range(5):
        UpstreamProbe.objects.create(
            upstream=upstream,
            checked_at=NOW + timedelta(minutes=minutes),
            ok=True,
            http_status=200,
            latency_ms=minutes,
        )
    assert upstream_probes_prune(upstream_id=upstream.pk) == 2
    assert list(UpstreamProbe.objects.values_list("latency_ms", flat=True)) == [4, 3, 2]


def test_the_task_probes_the_loopback_fake_openrouter(fake_openrouter, settings):
    settings.UPSTREAM_PROBE_KEEP = 1
    assert probe_upstreams.apply().get() == 1
    assert probe_upstreams.apply().get() == 1
    probe = UpstreamProbe.objects.get()
    assert (probe.ok, probe.http_status, probe.error) == (True, 200, "")
    request = fake_openrouter.requests[-1]
    assert (request.method, request.path, request.headers["authorization"]) == (
        "GET",
        "/api/v1/models",
        "Bearer sk-or-test-upstream",
    )


def test_the_command_reports_each_upstream_and_a_summary(tmp_path):
    env = {
        "TOKENLEDGER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",  # a fresh SQLite database in tmp_path, whatever the suite runs on
        "CELERY_BROKER_URL": "",
        "OPENROUTER_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENROUTER_API_KEY": "sk-or-never-printed",
        "UPSTREAM_PROBE_TIMEOUT_SECONDS": "2",
    }
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    result = run_manage("probe_upstreams", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "openrouter: down (cannot connect: ConnectError)",
        "probe ok: upstreams=1 down=1",
    ]
    assert "sk-or-never-printed" not in result.stdout + result.stderr


def test_the_default_upstream_can_be_disabled_but_not_renamed_or_deleted(client, admin_user):
    default = Upstream.objects.get(name="openrouter")
    client.force_login(admin_user)
    assert client.get(f"/admin/usage/upstream/{default.pk}/delete/").status_code == 403
    response = client.post(
        f"/admin/usage/upstream/{default.pk}/change/",
        {"name": "renamed", "base_url": "", "api_key_env": "", "model_prefix": ""},
    )
    assert response.status_code == 302
    default.refresh_from_db()
    assert (default.name, default.api_key_env, default.enabled) == ("openrouter", "", False)


def test_provider_endpoints_are_listed_read_only_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/catalog/providerendpoint/").status_code == 200
    assert client.get("/admin/catalog/providerendpoint/add/").status_code == 403
