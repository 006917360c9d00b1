"""Status page selectors: each upstream's latest probe, uptime over the kept probes, latency history."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from usage.models import Upstream, UpstreamProbe
from usage.upstreams import upstream_base_url


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
        "upstream_id", "checked_at", "ok", "http_status", "latency_ms", "error"
    )
    for probe in probes.iterator():
        by_upstream.setdefault(probe.upstream_id, []).append(probe)
    rows = []
    for upstream in upstreams:
        kept = by_upstream[upstream.pk]
        row = UpstreamStatus(
            name=upstream.name,
            base_url=upstream_base_url(upstream),
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
