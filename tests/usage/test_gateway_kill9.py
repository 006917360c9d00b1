"""`kill -9` of the gateway mid-burst, then a restart: every request the upstream received has exactly one
ledger row (the journal, usage/gateway/journal.py). uvicorn runs as a child process on the test database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tests.fakes.openrouter import FakeOpenRouter, Reply, serve
from tests.usage.gateway_data import make_catalogue
from usage.gateway.store import database_url
from usage.models import LedgerEntry
from usage.services.keys import api_key_create
from usage.services.reconcile import ledger_reconcile

BURST = 100
PROMPT = "x" * 400  # 100 tokens by the journal's estimate (characters / 4)


class Server:
    """`uvicorn dashboard.asgi:application` in a child process."""

    def __init__(self, env: dict[str, str], secret: str) -> None:
        self.env = env
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> Server:
        command = [sys.executable, "-m", "uvicorn", "dashboard.asgi:application", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env)  # noqa: S603 (our own command)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the gateway did not start"
            try:
                answer = httpx.get(f"{self.url}/key", headers={"Authorization": f"Bearer {self.secret}"})
                if answer.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the gateway did not answer within 60 s")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


async def _one(client: httpx.AsyncClient, url: str, number: int, results: dict) -> None:
    stream = number % 2 == 0
    body = {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
        "user": f"r{number}",
    }
    try:
        async with client.stream("POST", f"{url}/chat/completions", json=body) as answer:
            data = await answer.aread()
        whole = answer.status_code == 200 and (b"data: [DONE]" in data if stream else b'"usage"' in data)
        results[number] = "whole" if whole else f"HTTP {answer.status_code}"
    except httpx.HTTPError as exc:
        results[number] = type(exc).__name__


def _burst(url: str, secret: str, killed: threading.Event, results: dict) -> None:
    async def burst() -> None:
        limits = httpx.Limits(max_connections=BURST)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
            tasks = []
            for number in range(BURST):
                if killed.is_set():
                    break
                tasks.append(asyncio.ensure_future(_one(client, url, number, results)))
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)

    asyncio.run(burst())


@pytest.fixture
def upstream():
    fake = FakeOpenRouter(default=Reply(headers_delay=0.2, chunk_delay=0.05))
    server = serve(fake)
    yield fake
    server.stop()


def test_a_killed_gateway_loses_no_row(transactional_db, tmp_path, upstream, settings):
    make_catalogue()
    key, secret = api_key_create(name="kill9")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TOKENLEDGER_DATA_DIR": str(tmp_path),
        "OPENROUTER_BASE_URL": upstream.url,
        "OPENROUTER_API_KEY": "sk-or-test-upstream",
        "GATEWAY_CATALOG_REFRESH_SECONDS": "0",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    first = Server(env, secret).start()
    results: dict[int, str] = {}
    killed = threading.Event()
    clients = threading.Thread(target=_burst, args=(first.url, secret, killed, results))
    clients.start()
    deadline = time.monotonic() + 30
    while len(upstream.requests) < BURST // 2 or list(results.values()).count("whole") < 10:
        assert time.monotonic() < deadline, f"the burst stalled: {len(upstream.requests)} requests upstream"
        time.sleep(0.005)
    first.kill()
    killed.set()
    clients.join(60)

    second = Server(env, secret).start()  # replays the dead process's journal before it serves
    try:
        rows = list(LedgerEntry.objects.filter(api_key=key))
        journals = sorted(path.suffix for path in (tmp_path / "journal").iterdir())
        assert journals == [".jnl", ".lock"]  # the live process's own; the orphan is gone
    finally:
        second.stop()
    assert sorted((tmp_path / "journal").iterdir()) == []

    received = Counter(request.json["user"] for request in upstream.requests)
    by_tag = Counter(row.user_tag for row in rows)
    assert set(received.values()) == {1}
    assert set(by_tag.values()) == {1}  # no duplicates
    assert set(received) <= set(by_tag)  # every request sent upstream has its row
    whole = {f"r{n}" for n, result in results.items() if result == "whole"}
    assert len(whole) >= 10
    interrupted = 0
    late = set()  # answered whole, yet recorded interrupted
    named = set()  # interrupted streams whose generation OpenRouter had named (the journal's `G` line)
    for row in rows:
        if row.status == "interrupted":
            interrupted += 1
            if row.user_tag in whole:
                late.add(row.user_tag)
            assert (row.http_status, row.error_code) == (0, "gateway_interrupted")
            if row.generation_id:  # its estimate waits for the reconciliation below
                named.add(row.pk)
                assert row.stream and row.generation_id.startswith("gen-fake-")
                assert row.cost_state == "estimated"
            else:
                assert row.cost_state == "unreconciled"  # no generation id is known: the estimate stands
            assert (row.prompt_tokens, row.completion_tokens, row.reported_cost) == (100, 0, None)
            assert row.computed_cost == Decimal("0.000015")  # 100 × $0.00000015
            assert row.meta == {"planned_model": "openai/gpt-4o-mini"}
        else:
            assert row.user_tag in received, row.user_tag  # only a request sent upstream can be complete
            assert (row.status, row.http_status, row.cost_state) == ("ok", 200, "")
            assert (row.prompt_tokens, row.completion_tokens) == (12, 8)
            assert (row.reported_cost, row.computed_cost) == (Decimal("0.0000066"), Decimal("0.0000066"))
            assert row.generation_id.startswith("gen-fake-")
    # A reply's last message waits for its journal's end record: a request whole for its client is never
    # recorded interrupted, whenever the kill falls.
    assert late == set()
    assert whole <= {row.user_tag for row in rows if row.status == "ok"}
    assert interrupted >= 1

    # The interrupted streams OpenRouter had named are reconciled with what it billed for them.
    settings.OPENROUTER_BASE_URL = upstream.url
    assert named  # streams cut off after their first event (chunks every 50 ms)
    assert ledger_reconcile(now=datetime.now(UTC) + timedelta(minutes=1)).reconciled == len(named)
    for row in LedgerEntry.objects.filter(pk__in=named):
        assert (row.cost_state, row.reported_cost) == ("reconciled", Decimal("0.0000066"))
        assert (row.prompt_tokens, row.completion_tokens) == (12, 8)
