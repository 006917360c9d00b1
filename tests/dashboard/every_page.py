"""Every page of the dashboard, with enough data that each draws what it can (charts, tables, the admin).

Shared by the Content-Security-Policy tests (headers here, violations in chromium). `PAGES` names each page's
URL name; `NOT_PAGES` the named URLs that render no HTML page (POST-only, CSV, RSS, JSON). A test checks the
two cover every URL name, so a new page is walked as soon as it exists.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from tests.usage.spend_data import entry, make_key, make_model
from usage.models import Upstream, UpstreamProbe

D = Decimal

# URL names that render no page of their own.
NOT_PAGES = {
    "healthz",  # JSON
    "favicon",  # a redirect to the static icon
    "logout",  # POST
    "providers_refresh",  # POST, then back to the model page
    "playground_token",  # POST, JSON
    "playground_ledger_row",  # JSON
    "spend_export",  # CSV
    "activity_export",  # CSV
    "activity_by_request",  # a redirect to activity_detail
    "key_revoke",  # POST, then back to /keys/
    "key_alerts",  # POST, then back to /keys/
    "catalog:changes_feed",  # RSS
    "catalog:changes_feed_token",  # POST, then back to the changes page
}


def url_names(resolver=None, namespace: str = "") -> set[str]:
    """Every named URL outside the admin (it is walked through its index below), with its namespace."""
    names = set()
    for entry_ in (resolver or get_resolver()).url_patterns:
        if isinstance(entry_, URLResolver):
            if str(entry_.pattern).startswith("admin/"):
                continue
            inner = f"{namespace}{entry_.namespace}:" if entry_.namespace else namespace
            names |= url_names(entry_, inner)
        elif isinstance(entry_, URLPattern) and entry_.name:
            names.add(namespace + entry_.name)
    return names


def build_pages(admin) -> dict[str, str]:
    """Data for every page, then {URL name: path} for the pages an admin sees (login: seen logged out)."""
    _, gpt = make_model("openai/gpt-4o", prompt=D("0.0000025"), completion=D("0.00001"))
    make_model("anthropic/claude-sonnet-4", prompt=D("0.000003"), completion=D("0.000015"))
    key = make_key("alpha", admin, budget_usd=D("5"))
    now = timezone.now()
    rows = [
        entry(now - timedelta(hours=2 + 5 * i), api_key=key, version=gpt, provider="OpenAI",
              prompt_tokens=100, completion_tokens=10, computed_cost=D("0.00035"), reported_cost=D("0.00035"))
        for i in range(12)
    ]  # fmt: skip
    upstream, _ = Upstream.objects.get_or_create(name="openrouter", defaults={"api_key_env": ""})
    for i in range(6):
        UpstreamProbe.objects.create(
            upstream=upstream, checked_at=now - timedelta(minutes=5 * (6 - i)), ok=True, http_status=200,
            latency_ms=100 + i,
        )  # fmt: skip
    crontab = CrontabSchedule.objects.create(minute="17", hour="*")
    task = PeriodicTask.objects.create(name="csp walk", task="catalog.sync_catalog", crontab=crontab)
    return {
        "home": "/",
        "catalog:models": "/models/",
        "model_detail": "/models/openai/gpt-4o/",
        "compare": "/compare/?models=openai/gpt-4o,anthropic/claude-sonnet-4",
        "provider_detail": "/providers/OpenAI/",
        "spend": "/spend/",
        "activity": "/activity/",
        "activity_detail": f"/activity/{rows[0].id}/",
        "keys": "/keys/",
        "playground": "/playground/",
        "status": "/status/",
        "alerts": "/alerts/",
        "catalog:changes": "/catalog/changes/",
        "login": "/login/",
        "admin:index": "/admin/",
        # django-celery-beat's form, whose inline script we moved to static JS
        "admin:django_celery_beat_periodictask_change": f"/admin/django_celery_beat/periodictask/{task.pk}/change/",
        "admin:usage_apikey_add": "/admin/usage/apikey/add/",
    }
