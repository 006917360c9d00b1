"""Per-key limits: requests and tokens per minute, and the budget of the key's period.

Budgets hold under concurrency: a request is admitted only if the period's spend, plus what requests in
flight have reserved, plus its own reservation (the key's recent average cost per request) fits the
budget. With no history yet, requests are admitted one at a time until one completes. A key whose
spend reached its budget gets 402; a refusal that a moment can cure (rate, reservations) gets 429.

Counters live in Redis when REDIS_URL is set (one Lua script per request: atomic across workers,
limits_redis.py), else in the database (usage.KeyCounter rows, one conditional UPDATE per check:
limits_db.py). The period's spend starts from the ledger the first time a key is seen in a period, and
grows with each completed request's cost (OpenRouter's, else ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

from usage.periods import period_start

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


def to_nano(amount: Decimal | None) -> int:
    if amount is None or amount <= 0:
        return 0
    return int((amount * NANO).to_integral_value(rounding=ROUND_CEILING))


def period_id(key, now: datetime) -> str:
    """The budget window a request at `now` counts in, e.g. "monthly:2026-11-01" ("none": the key's life)."""
    start = period_start(key.budget_period, now)
    return f"{key.budget_period}:{start:%Y-%m-%d}" if start else "none"


def retry_minute(now_s: float) -> int:
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


def refusal(template: Refusal, retry_after: int | None = None, **values) -> Refusal:
    return Refusal(template.status, template.code, template.message.format(**values), retry_after)


def rate_refusal(key, requests: int, tokens: int, now_s: float) -> Refusal | None:
    if key.rpm_limit and requests >= key.rpm_limit:
        return refusal(RPM, retry_minute(now_s), limit=key.rpm_limit)
    if key.tpm_limit and tokens >= key.tpm_limit:
        return refusal(TPM, retry_minute(now_s), limit=key.tpm_limit)
    return None


def budget_refusal(key, spent: int, reserved: int, inflight: int, average: int | None) -> Refusal | None:
    """None: admit, reserving `average` (0 without history). Amounts in nanodollars."""
    budget = to_nano(key.budget_usd)
    if spent >= budget:
        return refusal(SPENT, period=key.budget_period, budget=key.budget_usd)
    if average is None:
        return refusal(BUSY, 1) if inflight > 0 else None
    if spent + reserved + average > budget:
        if inflight == 0:
            return refusal(LOW, period=key.budget_period, budget=key.budget_usd)
        return refusal(RESERVED, 1)
    return None
