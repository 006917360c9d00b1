#!/usr/bin/env python3
"""What the gateway's per-request freshness check costs (usage/gateway/freshness.py), in µs per request.

    .venv/bin/python bench/gateway_freshness.py                      # the file variant
    .venv/bin/python bench/gateway_freshness.py --redis redis://127.0.0.1:6379/6   # and the Redis one

Times `Freshness.check()` on an unchanged version (what every request pays), in one event loop (uvloop when
installed, as the gateway runs), for: the version file's stat() in a temporary DATA_DIR; a Redis GET per
request (one round trip to the given server, on loopback: redis-py, and our RESP reader); and what the
gateway does, a look into its subscription's socket (a GET only once a second). Prints the median of 5
batches per variant, and one reload after a bump (what the first request after an admin change waits for,
the reload excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from usage.freshness import version_file, version_key  # noqa: E402
from usage.gateway.freshness import FileVersion, Freshness, RedisVersion  # noqa: E402


def redis_py(url: str, prefix: str) -> RedisVersion:
    """The same read through redis-py's client (what a rediss:// or unix:// URL uses)."""
    import redis.asyncio

    version = RedisVersion(url, prefix)
    version.client = redis.asyncio.Redis.from_url(url, socket_timeout=2)
    return version


async def nothing() -> None:
    return None


async def watched(url: str, prefix: str) -> RedisVersion:
    """The gateway's reader, once its subscription is made and a GET was read under it."""
    version = RedisVersion(url, prefix)
    await version.read()
    while version.watch.number < 1:
        await asyncio.sleep(0.01)
    await version.read()
    return version


async def per_check(freshness: Freshness, calls: int) -> str:
    """µs per check, wall and CPU (this process), the medians of 5 batches."""
    wall, cpu = [], []
    for _ in range(5):
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(calls):
            await freshness.check()
        wall.append((time.perf_counter() - started) / calls * 1e6)
        cpu.append((time.process_time() - cpu_started) / calls * 1e6)
    return f"{statistics.median(wall):.2f} µs per request ({statistics.median(cpu):.2f} µs of CPU)"


async def measure(args) -> None:
    with tempfile.TemporaryDirectory() as data:
        version_file(data).touch()
        file = Freshness(FileVersion(data), nothing)
        await file.load()
        cost = await per_check(file, args.calls)
        print(f"file (stat of {version_file(data).name}): {cost}")
    if args.redis:
        prefix = "tl:bench:freshness:"
        import redis.asyncio

        writer = redis.asyncio.Redis.from_url(args.redis)
        await writer.set(version_key(prefix), 1)
        for label, version, calls in (
            ("redis-py, GET each request", redis_py(args.redis, prefix), args.calls // 10),
            ("RESP, GET each request", RedisVersion(args.redis, prefix, watch=False), args.calls // 10),
            ("RESP + subscription (the gateway's)", await watched(args.redis, prefix), args.calls),
        ):
            checked = Freshness(version, nothing)
            await checked.load()
            cost = await per_check(checked, calls)
            print(f"redis, {label}: {cost}")
            await version.close()
        redis = await watched(args.redis, prefix)
        checked = Freshness(redis, nothing)
        await checked.load()
        await writer.incr(version_key(prefix))
        await writer.publish(version_key(prefix), b"")
        started = time.perf_counter()
        await checked.check()
        cost = (time.perf_counter() - started) * 1e6
        print(f"redis, first request after a bump (reload excluded): {cost:.0f} µs")
        await writer.delete(version_key(prefix))
        await writer.aclose()
        await redis.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis", help="a Redis URL to time the Redis variant against")
    parser.add_argument(
        "--calls", type=int, default=100_000, help="checks per batch for the file (Redis: a tenth)"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(measure(args))
    except ImportError:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
