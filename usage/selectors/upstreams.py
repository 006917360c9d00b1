"""Upstreams as they are read: where a request goes (base URL, the key's value from the environment variable
it names, the gateway's targets) and how each is doing (the status page: latest probe, uptime, latency).

An upstream's key is read from its environment variable when needed; it is never stored, shown or logged.
The "openrouter" row (empty base_url) uses settings.OPENROUTER_BASE_URL and OPENROUTER_API_KEY.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from usage.charts import ChartRow, ChartTable
from usage.models import Upstream, UpstreamProbe
from usage.routing import ALL_ENDPOINTS, upstream_endpoints

OPENROUTER_KEY_ENV = "OPENROUTER_API_KEY"


def upstream_base_url(upstream: Upstream) -> str:
    """The base URL requests and probes go to, without a trailing slash."""
    return (upstream.base_url or settings.OPENROUTER_BASE_URL).rstrip("/")


def upstream_api_key(upstream: Upstream) -> str:
    """The key's value from the environment ("" for a keyless upstream or an unset variable)."""
    if not upstream.api_key_env:
        return ""
    if upstream.api_key_env == OPENROUTER_KEY_ENV:
        return settings.OPENROUTER_API_KEY or ""
    return os.environ.get(upstream.api_key_env, "").strip()


@dataclass(frozen=True)
class UpstreamTarget:
    """An enabled upstream as the gateway routes to it; `key` is the key's value: never log or show it."""

    name: str
    url: str
    model_prefix: str
    key_env: str
    key: str
    openrouter: bool
    strip_prefix: bool
    endpoints: frozenset[str] = frozenset(ALL_ENDPOINTS)  # what it serves (usage.routing.upstream_endpoints)


def upstream_targets() -> list[UpstreamTarget]:
    """The enabled upstreams, with their URLs and keys resolved; OpenRouter from the settings when the
    database has no default row (set up without migrations' data)."""
    upstreams = list(Upstream.objects.all())
    targets = [
        UpstreamTarget(
            name=upstream.name,
            url=upstream_base_url(upstream),
            model_prefix=upstream.model_prefix,
            key_env=upstream.api_key_env,
            key=upstream_api_key(upstream),
            openrouter=upstream.name == Upstream.DEFAULT_NAME,
            strip_prefix=upstream.strip_prefix,
            endpoints=upstream_endpoints(
                upstream.endpoints, openrouter=upstream.name == Upstream.DEFAULT_NAME
            ),
        )
        for upstream in upstreams
        if upstream.enabled
    ]
    if not any(upstream.name == Upstream.DEFAULT_NAME for upstream in upstreams):
        url = settings.OPENROUTER_BASE_URL.rstrip("/")
        targets.append(
            UpstreamTarget(Upstream.DEFAULT_NAME, url, "", "", settings.OPENROUTER_API_KEY or "", True, True)
        )
    return targets


@dataclass
class UpstreamStatus:
    name: str
    base_url: str
    model_prefix: str
    enabled: bool
    state: str  # "up", "down", "unknown" (never probed), "disabled"
    last_checked_at: object = None
    latency_ms: int | None = None
    http_status: int | None = None
    error: str = ""
    probes: int = 0
    uptime_percent: Decimal | None = None  # share of the kept probes that were up, 1 decimal
    history: list[dict] = field(
        default_factory=list
    )  # oldest first: {"t": iso, "ms": int | None, "ok": bool}


def upstream_statuses() -> list[UpstreamStatus]:
    """Every upstream (enabled first), with its kept probes summarised; two queries."""
    upstreams = sorted(Upstream.objects.all(), key=lambda u: (not u.enabled, u.name))
    by_upstream: dict[int, list[UpstreamProbe]] = {u.pk: [] for u in upstreams}
    probes = UpstreamProbe.objects.order_by("checked_at", "pk").only(
        "upstream_id", "checked_at", "ok", "http_status", "latency_ms", "error", "base_url"
    )
    for probe in probes.iterator():
        by_upstream.setdefault(probe.upstream_id, []).append(probe)
    rows = []
    for upstream in upstreams:
        base_url = upstream_base_url(upstream)
        # Re-pointed: the figures start afresh (probes of an earlier URL say nothing about this one).
        kept = [p for p in by_upstream[upstream.pk] if p.base_url in ("", base_url)]
        row = UpstreamStatus(
            name=upstream.name,
            base_url=base_url,
            model_prefix=upstream.model_prefix,
            enabled=upstream.enabled,
            state="disabled" if not upstream.enabled else "unknown",
            probes=len(kept),
        )
        if kept:
            last = kept[-1]
            if upstream.enabled:
                row.state = "up" if last.ok else "down"
            row.last_checked_at = last.checked_at
            row.latency_ms, row.http_status, row.error = last.latency_ms, last.http_status, last.error
            up = sum(1 for probe in kept if probe.ok)
            row.uptime_percent = (Decimal(up * 100) / len(kept)).quantize(Decimal("0.1"), ROUND_HALF_UP)
            row.history = [
                {"t": p.checked_at.isoformat(), "ms": p.latency_ms if p.ok else None, "ok": p.ok}
                for p in kept
            ]
        rows.append(row)
    return rows


def latency_table(rows: list[UpstreamStatus]) -> ChartTable:
    """The latency chart's figures (static/js/status.js): a row per probe time, a column per upstream with
    probes, holding the latency, "failed", or "—" where that upstream was not probed at that time."""
    charted = [row for row in rows if row.history]
    by_upstream = [{point["t"]: point for point in row.history} for row in charted]
    times = sorted({t for points in by_upstream for t in points}, key=datetime.fromisoformat)

    def cell(point: dict | None) -> str:
        if point is None or (point["ok"] and point["ms"] is None):
            return "—"
        return f"{point['ms']:,} ms" if point["ok"] else "failed"

    return ChartTable(
        caption="Probe latency per upstream",
        head=("Probe time (UTC)", *(row.name for row in charted)),
        rows=tuple(
            ChartRow(
                datetime.fromisoformat(t).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                tuple(cell(points.get(t)) for points in by_upstream),
            )
            for t in times
        ),
        money=False,
    )
