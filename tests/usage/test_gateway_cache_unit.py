"""The response cache module: when a request is cached, its key, the stores, replay and capture."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis

from tests.conftest import free_port
from usage.gateway.cache import (
    HEADER,
    HIT,
    MISS,
    CachedReply,
    Capture,
    DatabaseCache,
    RedisCache,
    cache_key,
    cache_requested,
    deterministic,
    make_cache,
    replay,
)
from usage.gateway.store import Store
from usage.models import CachedResponse

REDIS = "redis://127.0.0.1:6379/12"
UPSTREAM = "https://openrouter.ai/api/v1"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

SSE = (
    b'data: {"id":"gen-1","choices":[{"delta":{"content":"Hel"}}]}\n\n'
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"id":"gen-1","choices":[{"delta":{"content":"lo"}}]}\n\n'
    b"data: [DONE]\n\n"
)
ROW = {
    "served_model": "openai/gpt-4o-mini",
    "provider": "OpenAI",
    "generation_id": "gen-1",
    "prompt_tokens": 12,
    "completion_tokens": 2,
    "cost": "0.000021",
}


def reply(body: bytes = b'{"id":"gen-1"}', content_type: str = "application/json") -> CachedReply:
    return CachedReply(200, content_type, body, dict(ROW))


# ---- when a request is cached ----


@pytest.mark.parametrize(
    ("headers", "key_default", "expected"),
    [
        ([], False, False),
        ([], True, True),
        ([(b"x-tokenledger-cache", b"on")], False, True),
        ([(b"x-tokenledger-cache", b"ON")], False, True),
        ([(b"x-tokenledger-cache", b" On ")], False, True),
        ([(b"x-tokenledger-cache", b"off")], True, False),
        ([(b"x-tokenledger-cache", b"Off")], True, False),
        ([(b"x-tokenledger-cache", b"yes")], False, False),
        ([(b"x-tokenledger-cache", b"maybe")], True, True),
        ([(b"x-other", b"on")], False, False),
        ([(b"content-type", b"application/json"), (b"x-tokenledger-cache", b"on")], False, True),
    ],
)
def test_cache_requested(headers, key_default, expected):
    assert cache_requested(headers, key_default) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"model": "m", "temperature": 0}, True),
        ({"model": "m", "temperature": 0.0}, True),
        ({"model": "m", "temperature": 0.7}, False),
        ({"model": "m", "temperature": False}, False),
        ({"model": "m", "temperature": "0"}, False),
        ({"model": "m", "temperature": None}, False),
        ({"model": "m"}, False),
        ({"model": "m", "seed": 42}, True),
        ({"model": "m", "seed": 0, "temperature": 1.2}, True),
        ({"model": "m", "seed": True}, False),
        ({"model": "m", "seed": 4.0}, False),
        ({"model": "m", "seed": "42"}, False),
        ({"model": "m", "temperature": 0, "n": 1}, True),
        ({"model": "m", "temperature": 0, "n": None}, True),
        ({"model": "m", "temperature": 0, "n": 2}, False),
        ({"model": "m", "seed": 7, "n": 3}, False),
        ({"model": "m", "temperature": 0, "n": True}, False),
        ({"model": "m", "temperature": 0, "n": "1"}, False),
    ],
)
def test_deterministic(body, expected):
    assert deterministic(body) is expected


def test_cache_key_is_sha256_of_upstream_endpoint_and_sorted_body():
    body = {"temperature": 0, "model": "m", "messages": [{"role": "user", "content": "hi"}]}
    expected = hashlib.sha256(
        b"https://openrouter.ai/api/v1\n/chat/completions\n"
        b'{"messages":[{"content":"hi","role":"user"}],"model":"m","temperature":0}'
    ).hexdigest()
    assert cache_key(UPSTREAM, "/chat/completions", body) == expected


def test_cache_key_normalization():
    body = {"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]}
    key = cache_key(UPSTREAM, "/chat/completions", body)
    reordered = {"messages": [{"content": "hi", "role": "user"}], "temperature": 0, "model": "m"}
    with_user = {**body, "user": "alice", "stream_options": {"include_usage": True}}
    assert cache_key(UPSTREAM, "/chat/completions", reordered) == key
    assert cache_key(UPSTREAM, "/chat/completions", with_user) == key
    assert cache_key("http://vllm.internal:8000/v1", "/chat/completions", body) != key
    assert cache_key(UPSTREAM, "/completions", body) != key
    assert cache_key(UPSTREAM, "/chat/completions", {**body, "temperature": 0.0}) != key
    streamed = cache_key(UPSTREAM, "/chat/completions", {**body, "stream": True})
    unstreamed = cache_key(UPSTREAM, "/chat/completions", {**body, "stream": False})
    assert len({key, streamed, unstreamed}) == 3
    assert len(key) == 64


# ---- the stored reply ----


def test_cached_reply_round_trips_any_bytes():
    original = CachedReply(200, "text/event-stream", bytes(range(256)) * 3 + SSE, dict(ROW))
    data = original.dumps()
    assert isinstance(data, bytes)
    assert CachedReply.loads(data) == original


def test_cached_reply_writes_decimals_as_strings():
    data = CachedReply(200, "application/json", b"{}", {"cost": Decimal("0.000021")}).dumps()
    assert CachedReply.loads(data) == CachedReply(200, "application/json", b"{}", {"cost": "0.000021"})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"status": 200}',
        b'{"status":200,"content_type":"x","body":"@@","row":{}}',
    ],
)
def test_cached_reply_loads_rejects_corrupt_payloads(data):
    with pytest.raises(ValueError, match="not a cached reply"):
        CachedReply.loads(data)


# ---- the database store ----


class Clock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def __call__(self) -> datetime:
        return self.value


@pytest.fixture
def store():
    """The gateway's store (its database thread); the thread's connection closed at the end."""
    store = Store()
    yield store
    asyncio.run(store.close())


@pytest.mark.django_db(transaction=True)
def test_database_cache_put_get_and_expiry(store):
    clock = Clock(T0)
    cache = DatabaseCache(store, now=clock)

    async def scenario():
        results = [await cache.get("a" * 64)]
        await cache.put("a" * 64, reply(), 60)
        results.append(await cache.get("a" * 64))
        clock.value = T0 + timedelta(seconds=59)
        results.append(await cache.get("a" * 64))
        clock.value = T0 + timedelta(seconds=60)
        results.append(await cache.get("a" * 64))
        await cache.close()
        return results

    assert asyncio.run(scenario()) == [None, reply(), reply(), None]
    row = CachedResponse.objects.get()
    assert (row.key, row.created_at, row.expires_at) == ("a" * 64, T0, T0 + timedelta(seconds=60))
    assert CachedReply.loads(bytes(row.payload)) == reply()


@pytest.mark.django_db(transaction=True)
def test_database_cache_put_replaces_an_entry(store):
    clock = Clock(T0)
    cache = DatabaseCache(store, now=clock)
    newer = reply(b'{"id":"gen-2"}')

    async def scenario():
        await cache.put("b" * 64, reply(), 60)
        clock.value = T0 + timedelta(seconds=120)  # expired, then stored again
        await cache.put("b" * 64, newer, 30)
        return await cache.get("b" * 64)

    assert asyncio.run(scenario()) == newer
    row = CachedResponse.objects.get()
    assert (row.created_at, row.expires_at) == (T0 + timedelta(seconds=120), T0 + timedelta(seconds=150))


def _entry(key: str, expires_at: datetime) -> CachedResponse:
    return CachedResponse.objects.create(key=key, created_at=T0, expires_at=expires_at, payload=b"{}")


@pytest.mark.django_db(transaction=True)
def test_database_cache_prunes_expired_rows_at_most_once_a_minute(store):
    _entry("old1", T0 - timedelta(seconds=1))
    _entry("edge", T0)
    _entry("live", T0 + timedelta(seconds=1))
    clock = Clock(T0)
    cache = DatabaseCache(store, now=clock)

    def keys():
        return sorted(CachedResponse.objects.values_list("key", flat=True))

    asyncio.run(cache.put("new1", reply(), 3600))
    assert keys() == ["live", "new1"]

    _entry("old2", T0 - timedelta(seconds=1))
    clock.value = T0 + timedelta(seconds=59)
    asyncio.run(cache.put("new2", reply(), 3600))
    assert keys() == ["live", "new1", "new2", "old2"]  # pruned less than a minute ago

    clock.value = T0 + timedelta(seconds=60)
    asyncio.run(cache.put("new3", reply(), 3600))
    assert keys() == ["new1", "new2", "new3"]


@pytest.mark.django_db(transaction=True)
def test_database_cache_corrupt_payload_is_a_miss(store, caplog):
    CachedResponse.objects.create(
        key="c" * 64, created_at=T0, expires_at=T0 + timedelta(hours=1), payload=b"\x00garbage"
    )
    cache = DatabaseCache(store, now=Clock(T0))
    with caplog.at_level(logging.WARNING, logger="tokenledger.gateway"):
        assert asyncio.run(cache.get("c" * 64)) is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "response cache (database) get failed" in caplog.records[0].getMessage()


def test_database_cache_errors_are_logged_once_and_never_raised(caplog):
    calls = []

    class BrokenStore:
        async def cached_reply(self, *args):
            calls.append("get")
            raise RuntimeError("database is locked")

        async def cache_reply(self, *args):
            calls.append("put")
            raise RuntimeError("database is locked")

    cache = DatabaseCache(BrokenStore(), now=Clock(T0))

    async def scenario():
        results = [await cache.get("d" * 64), await cache.put("d" * 64, reply(), 60)]
        results.append(await cache.get("d" * 64))
        return results

    with caplog.at_level(logging.WARNING, logger="tokenledger.gateway"):
        assert asyncio.run(scenario()) == [None, None, None]
    assert len(calls) == 3
    assert [r.getMessage() for r in caplog.records] == [
        "response cache (database) get failed, serving without it: RuntimeError: database is locked"
    ]


# ---- the Redis store ----


@pytest.fixture
def prefix():
    name = f"tl:test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()


def test_redis_cache_put_get_and_expiry(prefix):
    async def scenario():
        cache = RedisCache(REDIS, prefix)
        results = [await cache.get("e" * 64)]
        await cache.put("e" * 64, reply(SSE, "text/event-stream"), 1)
        results.append(await cache.get("e" * 64))
        await cache.put("f" * 64, reply(), 3600)
        await asyncio.sleep(1.2)
        results.append(await cache.get("e" * 64))
        results.append(await cache.get("f" * 64))
        await cache.close()
        return results

    assert asyncio.run(scenario()) == [None, reply(SSE, "text/event-stream"), None, reply()]
    client = redis.Redis.from_url(REDIS)
    name = f"{prefix}cache:{'f' * 64}"
    assert sorted(client.scan_iter(f"{prefix}*")) == [name.encode()]
    assert 3590 < client.ttl(name) <= 3600
    assert CachedReply.loads(client.get(name)) == reply()
    client.close()


def test_redis_cache_corrupt_payload_is_a_miss(prefix, caplog):
    client = redis.Redis.from_url(REDIS)
    client.set(f"{prefix}cache:{'g' * 64}", b"\xff\xfe not json", ex=60)
    client.close()

    async def scenario():
        cache = RedisCache(REDIS, prefix)
        result = await cache.get("g" * 64)
        await cache.close()
        return result

    with caplog.at_level(logging.WARNING, logger="tokenledger.gateway"):
        assert asyncio.run(scenario()) is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_redis_cache_down_is_a_miss_logged_once(caplog):
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario():
        cache = RedisCache(url, "tl:test:")
        started = time.monotonic()
        results = [await cache.get("h" * 64), await cache.put("h" * 64, reply(), 60)]
        results.append(await cache.get("h" * 64))
        await cache.close()
        return results, time.monotonic() - started

    with caplog.at_level(logging.WARNING, logger="tokenledger.gateway"):
        results, elapsed = asyncio.run(scenario())
    assert results == [None, None, None]
    assert elapsed < 5
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith("response cache (redis) get failed, serving without it: ConnectionError: ")


def test_redis_cache_warns_again_after_recovering(prefix, caplog):
    async def scenario():
        cache = RedisCache(REDIS, prefix)
        good = cache.client
        cache.client = RedisCache(f"redis://127.0.0.1:{free_port()}/0", prefix).client
        await cache.get("i" * 64)  # down: warning
        await cache.get("i" * 64)  # still down: no second warning
        down = cache.client
        cache.client = good
        await cache.put("i" * 64, reply(), 60)  # up again
        cache.client = down
        await cache.get("i" * 64)  # down again: a new warning
        await down.aclose()
        await good.aclose()

    with caplog.at_level(logging.WARNING, logger="tokenledger.gateway"):
        asyncio.run(scenario())
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "response cache (redis) get failed",
        "response cache (redis) get failed",
    ]
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]


def test_make_cache_picks_redis_when_configured():
    store = Store()
    cache = make_cache(REDIS, "tl:gw:", store)
    assert isinstance(cache, RedisCache)
    assert cache.prefix == "tl:gw:"
    asyncio.run(cache.close())
    for url in (None, ""):
        cache = make_cache(url, "tl:gw:", store)
        assert isinstance(cache, DatabaseCache)
        assert cache.store is store


# ---- replay and capture ----


def replayed(cached: CachedReply, extra: list[tuple[bytes, bytes]]) -> list[dict]:
    messages = []

    async def send(message):
        messages.append(message)

    asyncio.run(replay(send, cached, extra))
    return messages


def test_replay_json():
    body = b'{"id":"gen-1","choices":[]}'
    messages = replayed(
        CachedReply(200, "application/json", body, dict(ROW)), [(b"x-generation-id", b"gen-1")]
    )
    assert messages == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"27"),
                (b"x-tokenledger-cache", b"hit"),
                (b"x-generation-id", b"gen-1"),
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


def test_replay_stream_event_by_event():
    messages = replayed(CachedReply(200, "text/event-stream", SSE, dict(ROW)), [])
    assert messages == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache"),
                (b"x-tokenledger-cache", b"hit"),
            ],
        },
        {
            "type": "http.response.body",
            "body": b'data: {"id":"gen-1","choices":[{"delta":{"content":"Hel"}}]}\n\n',
            "more_body": True,
        },
        {"type": "http.response.body", "body": b": OPENROUTER PROCESSING\n\n", "more_body": True},
        {
            "type": "http.response.body",
            "body": b'data: {"id":"gen-1","choices":[{"delta":{"content":"lo"}}]}\n\n',
            "more_body": True,
        },
        {"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": True},
        {"type": "http.response.body", "body": b"", "more_body": False},
    ]
    assert b"".join(m["body"] for m in messages[1:]) == SSE


def test_replay_stream_keeps_a_trailing_partial_event():
    body = b"data: 1\n\ndata: 2"
    messages = replayed(CachedReply(200, "text/event-stream; charset=utf-8", body, {}), [])
    assert messages[0]["headers"][:2] == [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
    ]
    assert [m["body"] for m in messages[1:]] == [b"data: 1\n\n", b"data: 2", b""]


def test_header_constants():
    assert (HEADER, HIT, MISS) == (b"x-tokenledger-cache", b"hit", b"miss")


def test_capture_keeps_chunks_up_to_the_limit():
    capture = Capture(limit=10)
    capture.add(b"abcd")
    capture.add(b"")
    capture.add(b"efghij")
    assert (capture.data, capture.overflow) == (b"abcdefghij", False)
    capture.add(b"k")
    assert (capture.data, capture.overflow) == (b"", True)
    capture.add(b"l")
    assert (capture.data, capture.overflow) == (b"", True)


def test_capture_default_limit_is_4_mib():
    capture = Capture()
    capture.add(b"x" * (4 * 1024 * 1024))
    assert (len(capture.data), capture.overflow) == (4 * 1024 * 1024, False)
    capture.add(b"x")
    assert (capture.data, capture.overflow) == (b"", True)
