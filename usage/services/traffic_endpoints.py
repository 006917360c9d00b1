"""Services: fetch the provider endpoints of every model with gateway traffic lately (the scheduled job).

The list of models comes from usage.selectors.models_with_recent_traffic; each model is fetched by
catalog.services.provider_endpoints.catalog_fetch_endpoints (one failure does not stop the others).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.utils import timezone

from catalog.services.provider_endpoints import EndpointsError, catalog_fetch_endpoints
from usage.selectors.traffic import models_with_recent_traffic

TRAFFIC_DAYS = 7


@dataclass
class EndpointsSyncResult:
    fetched: int = 0  # models whose endpoints were replaced
    endpoints: int = 0  # rows written in all
    failed: dict[str, str] = field(default_factory=dict)  # model id -> why


def provider_endpoints_sync_recent(
    *, now: datetime | None = None, transport: httpx.BaseTransport | None = None
) -> EndpointsSyncResult:
    """Fetch the endpoints of each model with traffic in the last TRAFFIC_DAYS days."""
    now = now or timezone.now()
    result = EndpointsSyncResult()
    for model_id in models_with_recent_traffic(since=now - timedelta(days=TRAFFIC_DAYS)):
        try:
            endpoints = catalog_fetch_endpoints(model_id=model_id, transport=transport, now=now)
        except EndpointsError as exc:
            result.failed[model_id] = str(exc)
            continue
        result.fetched += 1
        result.endpoints += len(endpoints)
    return result
