"""With Redis, the gateway learns of a version bump from its subscription (usage/gateway/freshness.py
Watch): no GET per request while nothing is published, a GET and a reload on the first check after a bump,
and a GET per check while the subscription is lost, until it is made again. Against the run's Redis."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import redis

from usage.gateway.freshness import VERIFY_EVERY, Freshness, RedisVersion
from usage.services.freshness import gateway_version_bump


@pytest.fixture
def redis_url(settings):
    if not settings.REDIS_URL:
        pytest.skip("no Redis configured (CELERY_BROKER_URL=redis://... or REDIS_URL)")
    settings.GATEWAY_REDIS_PREFIX = "tl:test:watch:" + os.urandom(8).hex() + ":"
    return settings.REDIS_URL


class Counting(RedisVersion):
    reads = 0

    async def read(self):
        self.reads += 1
        return await super().read()


class Reloads:
    calls = 0

    async def __call__(self) -> None:
        self.calls += 1


async def subscribed(version: RedisVersion, number: int) -> None:
    """Until the watch's `number`-th subscription is made, then one read under it."""
    for _ in range(200):
        if version.watch.number == number:
            await version.read()
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no subscription number {number}")


async def checks(freshness: Freshness, count: int = 50) -> None:
    for _ in range(count):
        await freshness.check()


def test_no_read_while_nothing_is_published_then_one_read_and_one_reload_after_a_bump(redis_url, settings):
    async def scenario():
        version, reload = Counting(redis_url, settings.GATEWAY_REDIS_PREFIX), Reloads()
        freshness = Freshness(version, reload)
        await freshness.load()
        await subscribed(version, 1)
        seen = [(version.reads, reload.calls)]
        await checks(freshness)
        seen.append((version.reads, reload.calls))
        await asyncio.get_running_loop().run_in_executor(None, gateway_version_bump)
        await checks(freshness)  # the first check reads and reloads; the 49 others read nothing
        seen.append((version.reads, reload.calls))
        await version.close()
        return seen

    assert asyncio.run(scenario()) == [(2, 1), (2, 1), (3, 2)]


def test_a_get_is_trusted_for_verify_every_only(redis_url, settings, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("usage.gateway.freshness.monotonic", lambda: clock[0])

    async def scenario():
        version, reload = Counting(redis_url, settings.GATEWAY_REDIS_PREFIX), Reloads()
        freshness = Freshness(version, reload)
        await freshness.load()
        await subscribed(version, 1)
        reads = [version.reads]
        clock[0] += VERIFY_EVERY - 0.01
        await checks(freshness, 3)
        reads.append(version.reads)
        clock[0] += 0.02  # the last GET is now over VERIFY_EVERY old: read once, trusted again
        await checks(freshness, 3)
        reads.append(version.reads)
        await version.close()
        return reads

    assert asyncio.run(scenario()) == [2, 2, 3]


def test_a_lost_subscription_means_a_read_per_check_until_it_is_made_again(redis_url, settings):
    admin = redis.Redis.from_url(redis_url)

    async def scenario():
        version, reload = Counting(redis_url, settings.GATEWAY_REDIS_PREFIX), Reloads()
        freshness = Freshness(version, reload)
        await freshness.load()
        await subscribed(version, 1)
        reads = version.reads
        host, port = version.watch.sock.getsockname()[:2]
        assert admin.client_kill_filter(addr=f"{host}:{port}") == 1  # the watch's connection, no other
        time.sleep(0.05)  # the kill reaches the socket
        await asyncio.get_running_loop().run_in_executor(None, gateway_version_bump)  # nobody hears it
        await freshness.check()  # finds the subscription gone: reads, and sees the bump
        lost = (version.reads - reads, reload.calls)
        await subscribed(version, 2)  # made again in the background
        reads = version.reads
        await checks(freshness)
        again = version.reads - reads
        await version.close()
        return lost, again

    assert asyncio.run(scenario()) == ((1, 2), 0)
