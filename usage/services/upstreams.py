"""Writes for upstreams: validation (the admin's form), and the health probes behind the status page
(GET <base_url>/models with a short timeout, recorded, pruned). See docs/routing.md."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from usage.models import Upstream, UpstreamProbe
from usage.routing import ALL_ENDPOINTS
from usage.selectors.upstreams import upstream_api_key, upstream_base_url


def upstream_validate(*, upstream: Upstream) -> None:
    """Raise ValidationError (per field) for a non-http(s) URL, a missing key variable, a clashing prefix."""
    errors: dict[str, list[str]] = {}
    if upstream.base_url:
        parts = urlsplit(upstream.base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.setdefault("base_url", []).append(
                f"The base URL must start with http:// or https:// and name a host: {upstream.base_url!r}."
            )
    if upstream.enabled and upstream.api_key_env and not upstream_api_key(upstream):
        errors.setdefault("api_key_env", []).append(
            f"The environment variable {upstream.api_key_env} is not set in the server's environment: "
            "set it (and restart), leave this empty for a keyless server, or disable the upstream."
        )
    unknown = sorted(set(upstream.endpoints.replace(",", " ").split()) - set(ALL_ENDPOINTS))
    if unknown:
        errors.setdefault("endpoints", []).append(
            f"Unknown endpoint {', '.join(unknown)}: choose among {', '.join(ALL_ENDPOINTS)}."
        )
    others = Upstream.objects.exclude(pk=upstream.pk) if upstream.pk else Upstream.objects.all()
    for other in others.only("name", "model_prefix"):
        mine, theirs = upstream.model_prefix, other.model_prefix
        if mine == theirs:
            what = f"prefix {mine!r}" if mine else "an empty prefix (the default upstream)"
            errors.setdefault("model_prefix", []).append(
                f"Upstream {other.name!r} already has {what}: each prefix can go to one upstream only."
            )
        elif mine and theirs and (mine.startswith(theirs) or theirs.startswith(mine)):
            errors.setdefault("model_prefix", []).append(
                f"Prefix {mine!r} overlaps prefix {theirs!r} of upstream {other.name!r}: "
                "a model id could match both."
            )
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    http_status: int | None
    latency_ms: int | None
    error: str


def _probe_one(client: httpx.Client, upstream: Upstream) -> ProbeResult:
    url = f"{upstream_base_url(upstream)}/models"
    headers = {"Accept": "application/json"}
    key = upstream_api_key(upstream)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    started = time.perf_counter()
    try:
        with client.stream("GET", url, headers=headers) as response:
            latency_ms = round((time.perf_counter() - started) * 1000)
            if response.status_code == 200:
                return ProbeResult(True, 200, latency_ms, "")
            return ProbeResult(
                False,
                response.status_code,
                latency_ms,
                f"HTTP {response.status_code} {response.reason_phrase}",
            )
    except httpx.TimeoutException:
        timeout = settings.UPSTREAM_PROBE_TIMEOUT_SECONDS
        return ProbeResult(False, None, None, f"timed out after {timeout:g} s")
    except httpx.TransportError as exc:
        return ProbeResult(False, None, None, f"cannot connect: {type(exc).__name__}")
    except httpx.InvalidURL:
        return ProbeResult(False, None, None, "invalid base URL")


def upstream_probe_all(*, transport: httpx.BaseTransport | None = None) -> list[UpstreamProbe]:
    """Probe each enabled upstream (GET <base_url>/models, short timeout), record, prune; the new probes."""
    timeout_seconds = settings.UPSTREAM_PROBE_TIMEOUT_SECONDS
    timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0))
    upstreams = list(Upstream.objects.filter(enabled=True))
    probes = []
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
        for upstream in upstreams:
            checked_at = timezone.now()
            result = _probe_one(client, upstream)
            probes.append(
                UpstreamProbe(
                    upstream=upstream,
                    checked_at=checked_at,
                    ok=result.ok,
                    http_status=result.http_status,
                    latency_ms=result.latency_ms,
                    error=result.error[:300],
                    base_url=upstream_base_url(upstream)[:500],
                )
            )
    with transaction.atomic():
        UpstreamProbe.objects.bulk_create(probes)
        for upstream in upstreams:
            upstream_probes_prune(upstream_id=upstream.pk)
    return probes


def upstream_probes_prune(*, upstream_id: int) -> int:
    """Delete an upstream's probes beyond the newest UPSTREAM_PROBE_KEEP; how many were deleted."""
    keep = settings.UPSTREAM_PROBE_KEEP
    boundary = (
        UpstreamProbe.objects.filter(upstream_id=upstream_id)
        .order_by("-checked_at", "-pk")
        .values_list("checked_at", "pk")[keep : keep + 1]
    )
    row = next(iter(boundary), None)
    if row is None:
        return 0
    checked_at, pk = row
    older = UpstreamProbe.objects.filter(upstream_id=upstream_id, checked_at__lt=checked_at)
    same_time = UpstreamProbe.objects.filter(upstream_id=upstream_id, checked_at=checked_at, pk__lte=pk)
    deleted = older.delete()[0] + same_time.delete()[0]
    return deleted
