"""Per-key limits: requests and tokens per minute, and the budget of the key's period.

Budgets hold under concurrency: a request is admitted only if the period's spend, plus what the requests in
flight reserved, plus its own worst-case cost (worst_case.py) fits the budget. Each admitted request holds
its reservation, under its own id, until it settles to its real cost or its own deadline passes (a worker
that died cannot hold budget for longer); no other request extends it. A key whose spend reached its
budget, or whose budget left cannot pay for the request's worst case, gets 402 in OpenRouter's words; a
request that would fit once the requests in flight settle gets 429 `budget_reserved`.

Counters live in Redis when REDIS_URL is set (one Lua script per admit and per settle: atomic across
workers, limits_redis.py), else in the database (usage.KeyCounter and usage.BudgetReservation rows, one
short transaction per check: limits_db.py). The period's spend starts from the ledger the first time a key
is seen in a period, and grows with each completed request's cost (OpenRouter's, else ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from usage.budget_counters import budget_window, to_nano


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
    reservation: str = ""  # its id among the key's reservations: the ledger row's request id
    reserved: int = 0  # nanodollars
    deadline: datetime | None = None  # when the reservation lapses if the request never settles
    budget: bool = False


def period_id(key, now: datetime) -> str:
    """The budget window a request at `now` counts in, e.g. "monthly:2026-11-01" ("none": the key's life)."""
    return budget_window(key.budget_period, now)


def retry_minute(now_s: float) -> int:
    return max(1, 60 - int(now_s) % 60)


RPM = Refusal(429, "rate_limited", "Requests per minute limit of this key reached ({limit}/min)")
TPM = Refusal(429, "rate_limited", "Tokens per minute limit of this key reached ({limit}/min)")
SPENT = Refusal(402, "budget_exceeded", "This key's {period} budget of ${budget} is spent")
AFFORD = Refusal(
    402,
    "budget_exceeded",
    "This request requires more credits, or fewer max_tokens. You requested up to {wanted} tokens, "
    "but can only afford {affordable}. (This key's {period} budget is ${budget}.)",
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


def budget_refusal(key, spent: int, reserved: int, worst) -> Refusal | None:
    """None: admit, reserving worst.amount. Amounts in nanodollars; `worst` a worst_case.WorstCase."""
    budget = to_nano(key.budget_usd)
    if spent >= budget:
        return refusal(SPENT, period=key.budget_period, budget=key.budget_usd)
    if spent + reserved + worst.amount <= budget:
        return None
    if spent + worst.amount <= budget:
        return refusal(RESERVED, 1)
    return refusal(
        AFFORD,
        wanted=worst.output_tokens,
        affordable=worst.affordable(budget - spent),
        period=key.budget_period,
        budget=key.budget_usd,
    )
