"""The home page: an overview of spend, traffic, budgets, catalogue changes and upstreams, every figure a link
to the page that shows it (numbers from usage.selectors.overview, as /spend/ reads them)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from catalog.selectors.changes import changes_touching
from usage.forms import RANGES, RangeForm
from usage.selectors.overview import Span, spend_overview
from usage.selectors.upstreams import upstream_statuses

# The /spend/ ranges the home page shows, each compared with the same span this many days earlier.
HOME_RANGES = (("today", 1), ("7d", 7), ("30d", 30))


def _spans(now) -> list[Span]:
    spans = []
    for name, days in HOME_RANGES:
        form = RangeForm({"range": name})
        form.is_valid()
        period = form.period(now)
        spans.append(Span(name, RANGES[name], period.start, period.end, timedelta(days=days)))
    return spans


def _url(name: str, **query) -> str:
    query = {key: value for key, value in query.items() if value not in (None, "")}
    return reverse(name) + ("?" + urlencode(query) if query else "")


def home(request):
    now = timezone.now()
    overview = spend_overview(user=request.user, spans=_spans(now), now=now)
    longest = overview.periods[-1]
    since = longest.start.date().isoformat()
    periods = [
        {
            "figures": period,
            "spend_url": _url("spend", range=period.name),
            "requests_url": _url("activity", start=period.start.date().isoformat()),
            "errors_url": _url("activity", status="error", start=period.start.date().isoformat()),
        }
        for period in overview.periods
    ]
    models = [
        {"group": group, "url": _url("activity", model=group.key, start=since)}
        for group in overview.top_models
    ]
    keys = [
        {"group": group, "url": _url("activity", key=group.key, start=since) if group.key else ""}
        for group in overview.top_keys
    ]
    context = {
        "periods": periods,
        "longest": longest,
        "top_models": models,
        "top_keys": keys,
        "running_out": overview.running_out,
        "changes": changes_touching(model_ids=overview.models_used, since=longest.start),
        "upstreams": [row for row in upstream_statuses() if row.enabled],
    }
    return render(request, "dashboard/home.html", context)
