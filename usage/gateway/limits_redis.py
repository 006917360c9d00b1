"""Limits and budgets in Redis, shared by every worker: each admit and settle is one atomic Lua script.

The rules and refusals are limits.py's; see there.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import redis.asyncio as redis

from usage.budget_counters import SETTLE, settle_args
from usage.gateway.limits import (
    RPM,
    TPM,
    Refusal,
    Ticket,
    budget_refusal,
    period_id,
    refusal,
    retry_minute,
    to_nano,
)
from usage.gateway.resp import RedisError, Resp, command
from usage.periods import period_end, period_start

# Reservations: a sorted set (id -> deadline, ms) and a hash (id -> nanodollars) per key and period. Each
# admit first drops the reservations past their own deadline; nothing else extends one.
ADMIT = """
local prefix, key_id, period = ARGV[1], ARGV[2], ARGV[3]
local minute, rpm, tpm, retry = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local budget, amount, rid = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local now_ms, deadline_ms, keep_s = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
if rpm > 0 or tpm > 0 then
  local mkey = prefix .. 'min:' .. key_id .. ':' .. minute
  local counts = redis.call('HMGET', mkey, 'r', 't')
  local requests, tokens = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
  if rpm > 0 and requests >= rpm then return {1, retry, 0} end
  if tpm > 0 and tokens >= tpm then return {2, retry, 0} end
  redis.call('HINCRBY', mkey, 'r', 1)
  redis.call('EXPIRE', mkey, 180)
end
if budget < 0 then return {0, 0, 0} end
local spent = redis.call('GET', prefix .. 'spent:' .. key_id .. ':' .. period)
if not spent then return {9, 0, 0} end
spent = tonumber(spent)
local zkey = prefix .. 'resv:' .. key_id .. ':' .. period
local hkey = prefix .. 'resa:' .. key_id .. ':' .. period
local gone = redis.call('ZRANGEBYSCORE', zkey, '-inf', now_ms)
for i = 1, #gone, 1000 do
  redis.call('HDEL', hkey, unpack(gone, i, math.min(i + 999, #gone)))
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now_ms) end
local reserved = 0
for _, value in ipairs(redis.call('HVALS', hkey)) do reserved = reserved + tonumber(value) end
if spent >= budget or spent + reserved + amount > budget then return {5, spent, reserved} end
if amount > 0 then
  redis.call('ZADD', zkey, deadline_ms, rid)
  redis.call('HSET', hkey, rid, amount)
  redis.call('EXPIRE', zkey, keep_s)
  redis.call('EXPIRE', hkey, keep_s)
end
return {0, spent, reserved}
"""


class Scripts:
    """Runs a Lua script by its SHA1 (EVALSHA; EVAL once if the server does not have it yet) over the
    gateway's own connection (resp.py) for a plain redis:// URL, else through redis-py."""

    def __init__(self, url: str) -> None:
        plain = urlsplit(url).scheme == "redis"
        self.resp = Resp(url) if plain else None
        self.client = None if plain else redis.Redis.from_url(url)

    async def run(self, script: bytes, sha: bytes, args: list) -> list:
        if self.resp is None:
            return await self.client.eval(script, 0, *args)
        try:
            return await self.resp.ask(command(b"EVALSHA", sha, 0, *args))
        except RedisError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self.resp.ask(command(b"EVAL", script, 0, *args))

    async def set_if_absent(self, key: str, value: int, seconds: int | None) -> None:
        words = ["SET", key, value, "NX", *(["EX", seconds] if seconds else [])]
        if self.resp is None:
            await self.client.execute_command(*words)
        else:
            await self.resp.ask(command(*words))

    async def close(self) -> None:
        if self.resp is None:
            await self.client.aclose()
        else:
            self.resp.close()


def _script(text: str) -> tuple[bytes, bytes]:
    body = text.encode()
    return body, hashlib.sha1(body, usedforsecurity=False).hexdigest().encode()


ADMIT_SCRIPT, SETTLE_SCRIPT = _script(ADMIT), _script(SETTLE)


class RedisLimits:
    """Counters in Redis, shared by every worker; each admit / settle is one atomic script."""

    def __init__(self, url: str, prefix: str, load_spend) -> None:
        self.scripts = Scripts(url)
        self.prefix = prefix
        self.load_spend = load_spend

    async def close(self) -> None:
        await self.scripts.close()

    async def admit(
        self, key, now: datetime, worst, deadline: datetime, reservation: str | None = None
    ) -> tuple[Refusal | None, Ticket | None]:
        """Count the request in its minute and reserve its worst case (worst_case.WorstCase) until
        `deadline` under the id `reservation` (the row's request id), unless a limit refuses it."""
        now_s = now.timestamp()
        rid = reservation or uuid.uuid4().hex
        ticket = Ticket(key.id, period_id(key, now), rid, worst.amount, deadline)
        budget = to_nano(key.budget_usd) if key.budget_usd is not None else -1
        keep = int((deadline - now).total_seconds()) + 60
        args = [
            self.prefix,
            key.id,
            ticket.period,
            int(now_s // 60),
            key.rpm_limit or 0,
            key.tpm_limit or 0,
            retry_minute(now_s),
            budget,
            worst.amount,
            ticket.reservation,
            int(now_s * 1000),
            int(deadline.timestamp() * 1000),
            keep,
        ]
        outcome, value, reserved = await self.scripts.run(*ADMIT_SCRIPT, args)
        if outcome == 9:  # the period's spend is not in Redis yet: start it from the ledger
            start = period_start(key.budget_period, now)
            spent = to_nano(await self.load_spend(key, start))
            end = period_end(key.budget_period, start)
            ttl = int((end - now).total_seconds()) + 86400 if end else None
            await self.scripts.set_if_absent(f"{self.prefix}spent:{key.id}:{ticket.period}", spent, ttl)
            args[4] = args[5] = 0  # already counted
            outcome, value, reserved = await self.scripts.run(*ADMIT_SCRIPT, args)
        if outcome == 1:
            return refusal(RPM, int(value), limit=key.rpm_limit), None
        if outcome == 2:
            return refusal(TPM, int(value), limit=key.tpm_limit), None
        if outcome == 5:
            return budget_refusal(key, int(value), int(reserved), worst), None
        ticket.budget = budget >= 0
        return None, ticket

    async def settle(
        self,
        key,
        ticket: Ticket,
        cost: Decimal | None,
        tokens: int,
        now: datetime,
        hold_until: datetime | None = None,
        only_if_held: bool = False,
    ) -> None:
        """Count the request's tokens, add its cost to the period's spend and release its reservation; with
        `hold_until` (a row waiting for reconciliation) keep the rest of its worst case until then."""
        if not ticket.budget and not (key.tpm_limit and tokens):
            return
        args = settle_args(
            self.prefix,
            key.id,
            ticket.period,
            minute=int(now.timestamp() // 60),
            tokens=tokens if key.tpm_limit else 0,
            budgeted=ticket.budget,
            reservation=ticket.reservation,
            cost=to_nano(cost),
            hold_until=hold_until,
            now=now,
            only_if_held=only_if_held,
        )
        await self.scripts.run(*SETTLE_SCRIPT, args)
