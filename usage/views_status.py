"""The /status/ page: each upstream up or down, its latest latency, uptime and latency history."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from usage.upstream_status import upstream_statuses


@never_cache
@require_GET
def status(request):
    rows = upstream_statuses()
    chart = [{"name": row.name, "history": row.history} for row in rows if row.history]
    return render(request, "usage/status.html", {"rows": rows, "chart": chart})
