"""Limits and budgets in Redis, shared by every worker: each admit and settle is one atomic Lua script.

The rules and refusals are limits.py's; see there.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import redis.asyncio as redis

from usage.gateway.limits import (
    BUSY,
    LOW,
    RESERVED,
    RPM,
    SPENT,
    TPM,
    Refusal,
    Ticket,
    period_id,
    refusal,
    retry_minute,
    to_nano,
)
from usage.periods import period_end, period_start

ADMIT = """
local prefix, key_id, period = ARGV[1], ARGV[2], ARGV[3]
local minute, rpm, tpm, retry = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local budget = tonumber(ARGV[8])
if rpm > 0 or tpm > 0 then
  local mkey = prefix .. 'min:' .. key_id .. ':' .. minute
  local counts = redis.call('HMGET', mkey, 'r', 't')
  local requests, tokens = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
  if rpm > 0 and requests >= rpm then return {1, retry} end
  if tpm > 0 and tokens >= tpm then return {2, retry} end
  redis.call('HINCRBY', mkey, 'r', 1)
  redis.call('EXPIRE', mkey, 180)
end
if budget < 0 then return {0, 0} end
local skey = prefix .. 'spent:' .. key_id .. ':' .. period
local spent = redis.call('GET', skey)
if not spent then return {9, 0} end
spent = tonumber(spent)
if spent >= budget then return {3, 0} end
local ikey = prefix .. 'inflight:' .. key_id .. ':' .. period
local inflight = redis.call('HMGET', ikey, 'n', 'r')
local count, reserved = tonumber(inflight[1] or '0'), tonumber(inflight[2] or '0')
local average = redis.call('GET', prefix .. 'avg:' .. key_id)
if not average then
  if count > 0 then return {4, 1} end
elseif spent + reserved + tonumber(average) > budget then
  if count == 0 then return {6, 0} end
  return {5, 1}
end
local reserve = average or '0'
redis.call('HINCRBY', ikey, 'n', 1)
redis.call('HINCRBY', ikey, 'r', reserve)
redis.call('EXPIRE', ikey, 900)
return {0, reserve}
"""

SETTLE = """
local prefix, key_id, period = ARGV[1], ARGV[2], ARGV[3]
local minute, tokens, budgeted = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local release, cost, has_cost = ARGV[7], ARGV[8], ARGV[9]
if tokens > 0 then
  local mkey = prefix .. 'min:' .. key_id .. ':' .. minute
  redis.call('HINCRBY', mkey, 't', tokens)
  redis.call('EXPIRE', mkey, 180)
end
if budgeted == '1' then
  local ikey = prefix .. 'inflight:' .. key_id .. ':' .. period
  redis.call('HINCRBY', ikey, 'n', -1)
  redis.call('HINCRBY', ikey, 'r', release)
  redis.call('INCRBY', prefix .. 'spent:' .. key_id .. ':' .. period, cost)
  if has_cost == '1' then
    local akey = prefix .. 'avg:' .. key_id
    local previous = redis.call('GET', akey)
    if previous then cost = string.format('%d', math.floor((3 * tonumber(previous) + tonumber(cost)) / 4)) end
    redis.call('SET', akey, cost, 'EX', 2678400)
  end
end
return 0
"""


class RedisLimits:
    """Counters in Redis, shared by every worker; each admit / settle is one atomic script."""

    def __init__(self, url: str, prefix: str, load_spend) -> None:
        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.load_spend = load_spend
        self.admit_script = self.client.register_script(ADMIT)
        self.settle_script = self.client.register_script(SETTLE)

    async def close(self) -> None:
        await self.client.aclose()

    async def admit(self, key, now: datetime) -> tuple[Refusal | None, Ticket | None]:
        now_s = now.timestamp()
        ticket = Ticket(key.id, period_id(key, now))
        budget = to_nano(key.budget_usd) if key.budget_usd is not None else -1
        args = [
            self.prefix,
            key.id,
            ticket.period,
            int(now_s // 60),
            key.rpm_limit or 0,
            key.tpm_limit or 0,
            retry_minute(now_s),
            budget,
        ]
        outcome, value = await self.admit_script(args=args)
        if outcome == 9:  # the period's spend is not in Redis yet: start it from the ledger
            start = period_start(key.budget_period, now)
            spent = to_nano(await self.load_spend(key, start))
            end = period_end(key.budget_period, start)
            ttl = int((end - now).total_seconds()) + 86400 if end else None
            await self.client.set(f"{self.prefix}spent:{key.id}:{ticket.period}", spent, nx=True, ex=ttl)
            args[4] = args[5] = 0  # already counted
            outcome, value = await self.admit_script(args=args)
        if outcome == 1:
            return refusal(RPM, int(value), limit=key.rpm_limit), None
        if outcome == 2:
            return refusal(TPM, int(value), limit=key.tpm_limit), None
        if outcome == 3:
            return refusal(SPENT, period=key.budget_period, budget=key.budget_usd), None
        if outcome == 4:
            return refusal(BUSY, 1), None
        if outcome == 5:
            return refusal(RESERVED, 1), None
        if outcome == 6:
            return refusal(LOW, period=key.budget_period, budget=key.budget_usd), None
        ticket.budget = budget >= 0
        ticket.reserved = int(value)
        return None, ticket

    async def settle(self, key, ticket: Ticket, cost: Decimal | None, tokens: int, now: datetime) -> None:
        if not ticket.budget and not (key.tpm_limit and tokens):
            return
        args = [
            self.prefix,
            key.id,
            ticket.period,
            int(now.timestamp() // 60),
            tokens if key.tpm_limit else 0,
            "1" if ticket.budget else "0",
            str(-ticket.reserved),
            to_nano(cost),
            "1" if cost is not None else "0",
        ]
        await self.settle_script(args=args)
