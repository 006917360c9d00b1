"""Shared fixtures: the three people every page must handle, a live ASGI server, manage.py runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "openrouter"
PASSWORD = "correct horse battery staple"
pytest_plugins = ["tests.usage.alerts_fixtures"]  # the loopback HTTP and SMTP receivers


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path_factory):
    """Plain http to the test client and loopback servers; a fast password hasher; the gateway's journal in
    this run's temporary directory (an earlier run's, killed, is never replayed into this one's database)."""
    settings.GATEWAY_JOURNAL_DIR = str(tmp_path_factory.getbasetemp() / "gateway-journal")
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def member(django_user_model):
    """A non-staff user who owns keys."""
    return django_user_model.objects.create_user("member", "member@example.com", PASSWORD)


@pytest.fixture
def outsider(django_user_model):
    """A non-staff user who owns nothing."""
    return django_user_model.objects.create_user("outsider", "outsider@example.com", PASSWORD)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveASGIServer:
    """An ASGI app served by uvicorn on a loopback port, in a thread of the test process."""

    app: object
    lifespan: str = "on"

    def start(self) -> LiveASGIServer:
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan=self.lifespan, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live ASGI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_asgi(transactional_db, settings):
    """The whole product (pages + gateway) on a loopback port, sharing the test database."""
    from django.core.asgi import get_asgi_application

    from dashboard.asgi import Dispatcher
    from usage.gateway.app import gateway

    # A new Django handler, so its middleware sees this test's settings.
    server = LiveASGIServer(Dispatcher(get_asgi_application(), gateway)).start()
    yield server
    server.stop()


def run_manage(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run manage.py in a child process (for exit codes and exact output), with the given environment."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    full_env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for browser tests; never for the product
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def fake_openrouter(settings):
    """The fake OpenRouter (tests/fakes/openrouter.py) on a loopback port; OPENROUTER_BASE_URL points at it."""
    from tests.fakes.openrouter import FakeOpenRouter, serve

    fake = FakeOpenRouter()
    server = serve(fake)
    settings.OPENROUTER_BASE_URL = fake.url
    settings.OPENROUTER_API_KEY = "sk-or-test-upstream"
    yield fake
    server.stop()


@dataclass
class GatewayServer:
    url: str  # the product's root, http://127.0.0.1:<port>
    api_url: str  # its gateway, <url>/api/v1
    fake: object  # the FakeOpenRouter behind it

    def ledger(self, count: int, timeout: float = 10.0) -> list:
        """Every ledger row, oldest first, once the gateway has written `count` rows."""
        from usage.gateway.app import gateway
        from usage.models import LedgerEntry

        if not gateway.writer.wait_written(count, timeout):
            raise AssertionError(f"the gateway wrote {gateway.writer.written} ledger rows, not {count}")
        return list(LedgerEntry.objects.order_by("id"))

    def settled(self, timeout: float = 10.0) -> None:
        """Wait until the gateway's background work (limit settles, cache fills) is done."""
        from usage.gateway.app import gateway

        deadline = time.monotonic() + timeout
        while gateway.tasks:
            assert time.monotonic() < deadline, "the gateway's background tasks did not finish"
            time.sleep(0.01)


@pytest.fixture
def _gateway_settings(settings):
    """Tests see the database as it is now (no key / catalogue cache), with their own Redis counters."""
    import uuid

    settings.GATEWAY_KEY_CACHE_SECONDS = 0
    settings.GATEWAY_CATALOG_REFRESH_SECONDS = 0
    settings.GATEWAY_REDIS_PREFIX = f"tl:test:{uuid.uuid4().hex}:"


@pytest.fixture
def gateway_server(_gateway_settings, fake_openrouter, live_asgi):
    """The whole product on loopback, its gateway forwarding to `fake_openrouter` (started first).

    `gateway_server.ledger(n)` waits until the gateway wrote n ledger rows, and returns all rows, oldest first.
    """
    return GatewayServer(url=live_asgi.url, api_url=f"{live_asgi.url}/api/v1", fake=fake_openrouter)


@pytest.fixture
def raw_upstream(settings):
    """A misbehaving upstream (tests/fakes/rawhttp.py) as OpenRouter; start it before the gateway."""
    from tests.fakes.rawhttp import RawUpstream

    upstream = RawUpstream().start()
    settings.OPENROUTER_BASE_URL = upstream.url
    settings.OPENROUTER_API_KEY = "sk-or-test-upstream"
    yield upstream
    upstream.stop()


@pytest.fixture
def raw_gateway(_gateway_settings, raw_upstream, live_asgi):
    """The whole product on loopback, its gateway forwarding to `raw_upstream`."""
    return GatewayServer(url=live_asgi.url, api_url=f"{live_asgi.url}/api/v1", fake=raw_upstream)


@pytest.fixture
def make_api_key(db):
    """make_api_key(owner=None, name="test key", **fields) -> the new key's secret."""
    from usage.services.keys import api_key_create

    def make(owner=None, name: str = "test key", **fields) -> str:
        _key, secret = api_key_create(name=name, owner=owner, **fields)
        return secret

    return make
