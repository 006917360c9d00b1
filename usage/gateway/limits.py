"""Per-key limits: requests and tokens per minute, and the budget of the key's period.

Budgets hold under concurrency: a request is admitted only if the period's spend, plus what requests in
flight have reserved, plus its own reservation (the key's recent average cost per request) fits the
budget. With no history yet, requests are admitted one at a time until one completes. A key whose
spend reached its budget gets 402; a refusal that a moment can cure (rate, reservations) gets 429.

Counters live in Redis when REDIS_URL is set (one Lua script per request: atomic across workers), else
in the database (usage.KeyCounter rows, locked while checked: usage/gateway/db_limits.py).
The period's spend starts from the ledger (usage.selectors.key_spend_in_period) the first time a key is
seen in a period, and grows with each completed request's cost (OpenRouter's, else ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

NANO = Decimal(10) ** 9  # counters hold money in integer nanodollars (exact in Lua up to $100 000)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str
    retry_after: int | None = None


@dataclass(slots=True)
class Ticket:
    """What admit() reserved for a request, handed back to settle()."""

    key_id: int
    period: str  # the period's id, e.g. "monthly:2026-11-01"
    reserved: int = 0  # nanodollars
    budget: bool = False


def period_start(period: str, now: datetime) -> datetime | None:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return None  # "none": the key's whole life


def period_end(period: str, start: datetime | None) -> datetime | None:
    if start is None:
        return None
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def to_nano(amount: Decimal | None) -> int:
    if amount is None or amount <= 0:
        return 0
    return int((amount * NANO).to_integral_value(rounding=ROUND_CEILING))


def from_nano(amount: int) -> Decimal:
    return Decimal(amount) / NANO


def _period_id(key, now: datetime) -> str:
    start = period_start(key.budget_period, now)
    return f"{key.budget_period}:{start:%Y-%m-%d}" if start else "none"


def _retry_minute(now_s: float) -> int:
    return max(1, 60 - int(now_s) % 60)


RPM = Refusal(429, "rate_limited", "Requests per minute limit of this key reached ({limit}/min)")
TPM = Refusal(429, "rate_limited", "Tokens per minute limit of this key reached ({limit}/min)")
SPENT = Refusal(402, "budget_exceeded", "This key's {period} budget of ${budget} is spent")
LOW = Refusal(
    402,
    "budget_exceeded",
    "What is left of this key's {period} budget of ${budget} is less than a request costs",
)
BUSY = Refusal(
    429, "budget_pending", "This key's budget admits one request at a time until its first request completes"
)
RESERVED = Refusal(429, "budget_reserved", "This key's remaining budget is reserved by requests in flight")


def _refusal(template: Refusal, retry_after: int | None = None, **values) -> Refusal:
    return Refusal(template.status, template.code, template.message.format(**values), retry_after)


def rate_refusal(key, requests: int, tokens: int, now_s: float) -> Refusal | None:
    if key.rpm_limit and requests >= key.rpm_limit:
        return _refusal(RPM, _retry_minute(now_s), limit=key.rpm_limit)
    if key.tpm_limit and tokens >= key.tpm_limit:
        return _refusal(TPM, _retry_minute(now_s), limit=key.tpm_limit)
    return None


def budget_refusal(key, spent: int, reserved: int, inflight: int, average: int | None) -> Refusal | None:
    """None: admit, reserving `average` (0 without history). Amounts in nanodollars."""
    budget = to_nano(key.budget_usd)
    if spent >= budget:
        return _refusal(SPENT, period=key.budget_period, budget=key.budget_usd)
    if average is None:
        return _refusal(BUSY, 1) if inflight > 0 else None
    if spent + reserved + average > budget:
        if inflight == 0:
            return _refusal(LOW, period=key.budget_period, budget=key.budget_usd)
        return _refusal(RESERVED, 1)
    return None


def next_average(previous: int | None, cost: int) -> int:
    return cost if previous is None else (3 * previous + cost) // 4


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
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.load_spend = load_spend
        self.admit_script = self.client.register_script(ADMIT)
        self.settle_script = self.client.register_script(SETTLE)

    async def close(self) -> None:
        await self.client.aclose()

    async def admit(self, key, now: datetime) -> tuple[Refusal | None, Ticket | None]:
        now_s = now.timestamp()
        ticket = Ticket(key.id, _period_id(key, now))
        budget = to_nano(key.budget_usd) if key.budget_usd is not None else -1
        args = [
            self.prefix,
            key.id,
            ticket.period,
            int(now_s // 60),
            key.rpm_limit or 0,
            key.tpm_limit or 0,
            _retry_minute(now_s),
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
            return _refusal(RPM, int(value), limit=key.rpm_limit), None
        if outcome == 2:
            return _refusal(TPM, int(value), limit=key.tpm_limit), None
        if outcome == 3:
            return _refusal(SPENT, period=key.budget_period, budget=key.budget_usd), None
        if outcome == 4:
            return _refusal(BUSY, 1), None
        if outcome == 5:
            return _refusal(RESERVED, 1), None
        if outcome == 6:
            return _refusal(LOW, period=key.budget_period, budget=key.budget_usd), None
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
