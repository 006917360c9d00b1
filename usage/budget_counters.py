"""What the gateway's limit counters and the ledger's reconciliation share: money in nanodollars, the id of
a budget window, and the Redis settle script (usage/gateway/limits_redis.py runs it asynchronously,
usage/services/reconcile.py synchronously).

A request's reservation is held under its ledger row's request id, so a later settle (reconciliation) finds
it from the row alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings

from usage.periods import period_start

NANO = Decimal(10) ** 9  # counters hold money in integer nanodollars (exact in Lua up to $100 000)
RECONCILE_MARGIN = timedelta(minutes=10)  # the reconciliation job's lag (it runs every minute by default)


def reconcile_hold() -> timedelta:
    """How long after its request an estimated row's reservation is held: the reconciliation's last try
    (LEDGER_RECONCILE_SECONDS after the request) and a margin; whatever settles it first releases it."""
    return timedelta(seconds=settings.LEDGER_RECONCILE_SECONDS) + RECONCILE_MARGIN


def to_nano(amount: Decimal | None) -> int:
    """Positive money in nanodollars, rounded up; 0 for None or less."""
    if amount is None or amount <= 0:
        return 0
    return int((amount * NANO).to_integral_value(rounding=ROUND_CEILING))


def signed_nano(amount: Decimal) -> int:
    """A correction in nanodollars, rounded up in magnitude (a reconciled cost minus its estimate)."""
    return to_nano(amount) if amount >= 0 else -to_nano(-amount)


def budget_window(budget_period: str, at: datetime) -> str:
    """The budget window a request made `at` counts in, e.g. "monthly:2026-11-01" ("none": the key's life)."""
    start = period_start(budget_period, at)
    return f"{budget_period}:{start:%Y-%m-%d}" if start else "none"


# Settle one request: its tokens to the minute's count; then (budgeted) either release its reservation, or,
# with a hold deadline (hold_ms > 0; the row waits for reconciliation), keep what is left of it after its
# cost until that deadline, so the request still holds its worst case in all. The cost is added to the
# window's spend if that is counted (a reconciliation's correction may be negative).
SETTLE = """
local prefix, key_id, period = ARGV[1], ARGV[2], ARGV[3]
local minute, tokens, budgeted = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local rid, cost = ARGV[7], tonumber(ARGV[8])
local hold_ms, keep_ms = tonumber(ARGV[9] or '0'), tonumber(ARGV[10] or '0')
local only_held = ARGV[11] == '1'
if tokens > 0 then
  local mkey = prefix .. 'min:' .. key_id .. ':' .. minute
  redis.call('HINCRBY', mkey, 't', tokens)
  redis.call('EXPIRE', mkey, 180)
end
if budgeted == '1' then
  local zkey = prefix .. 'resv:' .. key_id .. ':' .. period
  local hkey = prefix .. 'resa:' .. key_id .. ':' .. period
  if only_held and not redis.call('ZSCORE', zkey, rid) then return 0 end
  local held = 0
  if hold_ms > 0 and redis.call('ZSCORE', zkey, rid) then
    held = tonumber(redis.call('HGET', hkey, rid) or '0') - cost
  end
  if held > 0 then
    redis.call('ZADD', zkey, 'XX', hold_ms, rid)
    redis.call('HSET', hkey, rid, held)
    if redis.call('PTTL', zkey) < keep_ms then redis.call('PEXPIRE', zkey, keep_ms) end
    if redis.call('PTTL', hkey) < keep_ms then redis.call('PEXPIRE', hkey, keep_ms) end
  else
    redis.call('ZREM', zkey, rid)
    redis.call('HDEL', hkey, rid)
  end
  local skey = prefix .. 'spent:' .. key_id .. ':' .. period
  if cost ~= 0 and redis.call('EXISTS', skey) == 1 then redis.call('INCRBY', skey, cost) end
end
return 0
"""


def settle_args(
    prefix: str,
    key_id: int,
    window: str,
    *,
    minute: int,
    tokens: int,
    budgeted: bool,
    reservation: str,
    cost: int,
    hold_until: datetime | None,
    now: datetime,
    only_if_held: bool = False,
) -> list:
    """SETTLE's arguments. `only_if_held`: settle the budget only if the reservation is still held (a
    journal replay, which cannot know whether its dead process settled it: never twice)."""
    hold_ms = keep_ms = 0
    if hold_until is not None:
        hold_ms = int(hold_until.timestamp() * 1000)
        keep_ms = max(hold_ms - int(now.timestamp() * 1000), 0) + 60_000
    return [
        prefix,
        key_id,
        window,
        minute,
        tokens,
        "1" if budgeted else "0",
        reservation,
        cost,
        hold_ms,
        keep_ms,
        "1" if only_if_held else "0",
    ]
