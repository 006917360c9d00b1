"""Prometheus metrics of the gateway: in-memory counters, exposed as text at GET /metrics.

Updated from the event loop only (no locks), one `observe(row, key_prefix)` per finished request; the
exposition text is written by hand (prometheus_client is only a test dependency).
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from decimal import Decimal

from usage.gateway.row import LedgerRow

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
MAX_SERIES = 5000  # label sets per family; further new ones are counted under model="other"
OTHER = "other"
# Upper bounds of the latency histogram, in seconds (and in milliseconds, as rows carry them).
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60")
BUCKETS_MS = tuple(int(Decimal(bound) * 1000) for bound in BUCKETS)
TOKEN_KINDS = (
    ("prompt", "prompt_tokens"),
    ("completion", "completion_tokens"),
    ("cached", "cached_tokens"),
    ("reasoning", "reasoning_tokens"),
)
ERROR_STATUSES = frozenset(("error", "rejected"))


def escape(value: str) -> str:
    """A label value escaped for the text exposition format (backslash, double quote, newline)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def number(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class Family:
    """One metric's samples by label values, holding at most `limit` label sets."""

    __slots__ = ("name", "help", "kind", "labels", "values", "limit")

    def __init__(self, name: str, help: str, kind: str, labels: tuple[str, ...], limit: int) -> None:
        self.name = name
        self.help = help
        self.kind = kind
        self.labels = labels
        self.values: dict[tuple[str, ...], int | Decimal] = {}
        self.limit = limit

    def add(self, labels: tuple[str, ...], amount: int | Decimal) -> None:
        values = self.values
        if labels in values:
            values[labels] += amount
        else:
            labels = self.bounded(labels)
            values[labels] = values.get(labels, 0) + amount

    def bounded(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """Where a new label set is counted: its own series below the limit, past it under model="other"
        (other labels kept); past twice the limit, under a series whose labels are all "other"."""
        if len(self.values) < self.limit:
            return labels
        other = (OTHER, *labels[1:])
        if other in self.values or len(self.values) < 2 * self.limit:
            return other
        return (OTHER,) * len(labels)

    def head(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        out = self.head()
        names = self.labels
        for labels, value in self.values.items():
            pairs = ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, labels, strict=True))
            out.append(f"{self.name}{{{pairs}}} {number(value)}")
        return out


class Metrics:
    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self.max_series = max_series
        self.requests = Family(
            "tokenledger_requests_total",
            "Gateway completion requests by model, key prefix and ledger status.",
            "counter",
            ("model", "key_prefix", "status"),
            max_series,
        )
        self.errors = Family(
            "tokenledger_errors_total",
            "Requests that ended in an error or were rejected, by error code (or HTTP status).",
            "counter",
            ("model", "key_prefix", "code"),
            max_series,
        )
        self.tokens = Family(
            "tokenledger_tokens_total",
            "Tokens by model, key prefix and kind (prompt, completion, cached, reasoning).",
            "counter",
            ("model", "key_prefix", "kind"),
            max_series,
        )
        self.cost = Family(
            "tokenledger_cost_usd_total",
            "Cost in USD (reported by the upstream, else computed from catalogue prices).",
            "counter",
            ("model", "key_prefix"),
            max_series,
        )
        # upstream -> [count per bucket, not cumulative (BUCKETS, then +Inf)..., sum in ms]
        self.latency: dict[str, list[int]] = {}
        self.keyless: dict[str, int] = {}  # refusals without a known key, by reason
        self.lag = LoopLag()

    def refused_keyless(self, reason: str) -> None:
        self.keyless[reason] = self.keyless.get(reason, 0) + 1

    def observe(self, row: LedgerRow, key_prefix: str) -> None:
        """Count one finished request from its ledger row."""
        model = row.model
        status = row.status
        self.requests.add((model, key_prefix, status), 1)
        if status in ERROR_STATUSES:
            code = row.error_code or str(row.http_status or "")
            self.errors.add((model, key_prefix, code), 1)
        for kind, field in TOKEN_KINDS:
            count = getattr(row, field)
            if count:
                self.tokens.add((model, key_prefix, kind), count)
        cost = row.spent
        if cost:
            self.cost.add((model, key_prefix), cost)
        latency_ms = row.upstream_latency_ms
        if latency_ms is not None:
            upstream = row.meta.get("upstream") or "openrouter"
            counts = self.latency.get(upstream)
            if counts is None:
                if len(self.latency) >= self.max_series:
                    upstream = OTHER
                counts = self.latency.setdefault(upstream, [0] * (len(BUCKETS_MS) + 2))
            counts[bisect_left(BUCKETS_MS, latency_ms)] += 1
            counts[-1] += latency_ms

    def render(
        self, *, pending: int, written: int, spilled: int, dead: int = 0, alert_failures: int = 0
    ) -> bytes:
        """The exposition text (format 0.0.4)."""
        out: list[str] = []
        name = "tokenledger_keyless_refusals_total"
        out.append(f"# HELP {name} Requests refused before any key was known (no ledger row), by reason.")
        out.append(f"# TYPE {name} counter")
        out.extend(f'{name}{{reason="{escape(reason)}"}} {count}' for reason, count in self.keyless.items())
        for family in (self.requests, self.errors, self.tokens, self.cost):
            out.extend(family.lines())
        name = "tokenledger_upstream_latency_seconds"
        out.append(f"# HELP {name} Time to the upstream's response headers, by upstream.")
        out.append(f"# TYPE {name} histogram")
        for upstream, counts in self.latency.items():
            label = f'upstream="{escape(upstream)}"'
            total = 0
            for index, bound in enumerate(BUCKETS):
                total += counts[index]
                out.append(f'{name}_bucket{{{label},le="{bound}"}} {total}')
            total += counts[len(BUCKETS)]
            out.append(f'{name}_bucket{{{label},le="+Inf"}} {total}')
            out.append(f"{name}_sum{{{label}}} {number(Decimal(counts[-1]) / 1000)}")
            out.append(f"{name}_count{{{label}}} {total}")
        out.extend(
            [
                "# HELP tokenledger_ledger_queue_depth Ledger rows queued and not yet written or spilled.",
                "# TYPE tokenledger_ledger_queue_depth gauge",
                f"tokenledger_ledger_queue_depth {pending}",
                "# HELP tokenledger_ledger_rows_written_total Ledger rows written since the gateway started.",
                "# TYPE tokenledger_ledger_rows_written_total counter",
                f"tokenledger_ledger_rows_written_total {written}",
                "# HELP tokenledger_ledger_rows_spilled_total Ledger rows spilled to files.",
                "# TYPE tokenledger_ledger_rows_spilled_total counter",
                f"tokenledger_ledger_rows_spilled_total {spilled}",
                "# HELP tokenledger_ledger_dead_letter_rows Ledger rows the database refused, kept in files.",
                "# TYPE tokenledger_ledger_dead_letter_rows gauge",
                f"tokenledger_ledger_dead_letter_rows {dead}",
                "# HELP tokenledger_alert_deliveries_failed Alert deliveries that failed every attempt"
                " (read from the database at most once a minute).",
                "# TYPE tokenledger_alert_deliveries_failed gauge",
                f"tokenledger_alert_deliveries_failed {alert_failures}",
                "# HELP tokenledger_event_loop_lag_max_seconds Longest event loop lag in the last minute.",
                "# TYPE tokenledger_event_loop_lag_max_seconds gauge",
                f"tokenledger_event_loop_lag_max_seconds {number(Decimal(self.lag.max_ms()) / 1000)}",
            ]
        )
        out.append("")
        return "\n".join(out).encode()


class LoopLag:
    """The event loop's lag: how late a callback it schedules every TICK seconds runs, the worst per second
    kept for a minute. A stall of the loop (a long callback, the garbage collector, a held GIL) shows here."""

    TICK = 0.1

    def __init__(self) -> None:
        self.worst = [0.0] * 60  # ms, by second of the minute
        self.seconds = [0] * 60  # which second each slot holds
        self.handle: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.due = 0.0

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.due = self.loop.time() + self.TICK
        self.handle = self.loop.call_at(self.due, self._tick)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def _tick(self) -> None:
        lag_ms = max(self.loop.time() - self.due, 0.0) * 1000
        second = int(time.monotonic())
        slot = second % 60
        if self.seconds[slot] != second:
            self.seconds[slot], self.worst[slot] = second, lag_ms
        elif lag_ms > self.worst[slot]:
            self.worst[slot] = lag_ms
        self.due = self.loop.time() + self.TICK
        self.handle = self.loop.call_at(self.due, self._tick)

    def max_ms(self) -> int:
        """The worst lag in the last 60 s, in whole milliseconds."""
        now = int(time.monotonic())
        recent = [ms for second, ms in zip(self.seconds, self.worst, strict=True) if now - second < 60]
        return int(max(recent, default=0.0))
