"""The spend, activity and keys pages and their CSV exports: parse the query, call a selector, render."""

from __future__ import annotations

import csv
import itertools
from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.selectors.catalogue import model_choices
from usage.forms import RANGES, ActivityFilterForm, KeyCreateForm, RangeForm
from usage.ledger_files import dead_letter_rows
from usage.models import LedgerEntry
from usage.selectors import activity as activity_log
from usage.selectors import alerts as alert_rows
from usage.selectors import keys as key_rows
from usage.selectors import spend as spend_report
from usage.selectors.captures import captured_conversation
from usage.selectors.upstreams import latency_table, upstream_statuses
from usage.selectors.visibility import visible_key, visible_keys
from usage.services.alerts.subscriptions import alert_subscription_set
from usage.services.keys import api_key_create, api_key_revoke

GROUPS = {"model": "Model", "key": "Key", "provider": "Provider", "endpoint": "Endpoint"}


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """Text a spreadsheet would run as a formula (a key named "=HYPERLINK(...)") is kept as text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a streamed response."""

    def write(self, value: str) -> str:
        return value


def _csv_response(
    request, filename: str, header: Iterable[str], rows: Iterable[Iterable]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    # Under ASGI Django would read a sync iterator whole into memory before sending it: hand it an async one
    # that pulls a batch of lines at a time from the database thread.
    content = _in_batches(lines()) if isinstance(request, ASGIRequest) else lines()
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


CSV_BATCH_LINES = 1000


async def _in_batches(lines: Iterator[str]) -> AsyncIterator[str]:
    def next_batch() -> str:
        return "".join(itertools.islice(lines, CSV_BATCH_LINES))

    while chunk := await sync_to_async(next_batch)():
        yield chunk


def _range(request) -> tuple[RangeForm, spend_report.SpendReport | None]:
    form = RangeForm(request.GET)
    if not form.is_valid():
        return form, None
    period, endpoint = form.period(), form.cleaned_data.get("endpoint", "")
    report = spend_report.spend_report(
        user=request.user, start=period.start, end=period.end, endpoint=endpoint
    )
    return form, report


@require_GET
def spend(request):
    form, report = _range(request)
    period_name = form.cleaned_data.get("range") if form.is_valid() else form.data.get("range")
    context = {
        "form": form,
        "report": report,
        "ranges": RANGES,
        "groups": GROUPS,
        "period_name": period_name or "7d",
    }
    if report is not None:
        context["chart"] = report.chart
        context["chart_table"] = report.chart_table
        context["estimated"] = spend_report.estimated_costs(
            user=request.user, start=report.start, end=report.end, endpoint=form.cleaned_data["endpoint"]
        )
    return render(request, "usage/spend.html", context, status=200 if report else 400)


@require_GET
def spend_export(request, group: str):
    if group not in GROUPS:
        raise Http404("No such table")
    form = RangeForm(request.GET)
    if not form.is_valid():
        return HttpResponse(
            "Invalid range: " + "; ".join(e for errors in form.errors.values() for e in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    period = form.period()
    rows = spend_report.spend_groups(
        user=request.user,
        start=period.start,
        end=period.end,
        group=group,
        endpoint=form.cleaned_data.get("endpoint", ""),
    )
    header = [
        GROUPS[group].lower(),
        "requests",
        "failed",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost",
        "reported_cost",
        "computed_cost",
        "cache_savings",
        "response_cache_saved",
        "share",
    ]

    def lines():
        for row in rows:
            t = row.totals
            yield [
                row.label,
                t.requests,
                t.failed,
                t.input_tokens,
                t.cached_tokens,
                t.cache_write_tokens,
                t.cache_write_1h_tokens,
                t.output_tokens,
                t.reasoning_tokens,
                _money(t.cost),
                _money(t.reported_cost),
                _money(t.computed_cost),
                _money(t.cache_savings),
                _money(t.response_cache_saved),
                "" if row.share is None else f"{row.share:.4f}",
            ]

    stamp = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    return _csv_response(request, f"spend-by-{group}-{stamp}.csv", header, lines())


def _money(value) -> str:
    """A Decimal cost as plain text, without exponent or trailing zeros ("0.0015", "0")."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return text


def _activity_filters(request) -> tuple[ActivityFilterForm, activity_log.ActivityFilters | None]:
    form = ActivityFilterForm(request.GET, keys=visible_keys(user=request.user))
    if not form.is_valid():
        return form, None
    api_key = None
    if form.cleaned_data.get("key"):
        # Someone else's key (or none at all): not found, whoever's it is.
        api_key = visible_key(user=request.user, key_id=form.cleaned_data["key"])
        if api_key is None:
            raise Http404("No such key")
    start, end = form.bounds()
    latency_min_ms, latency_max_ms = form.latency_bounds_ms()
    return form, activity_log.ActivityFilters(
        api_key=api_key,
        model=form.cleaned_data.get("model", "").strip(),
        provider=form.cleaned_data.get("provider", "").strip(),
        status=form.cleaned_data.get("status", ""),
        endpoint=form.cleaned_data.get("endpoint", ""),
        start=start,
        end=end,
        cost_min=form.cleaned_data.get("cost_min"),
        cost_max=form.cleaned_data.get("cost_max"),
        latency_min_ms=latency_min_ms,
        latency_max_ms=latency_max_ms,
    )


def _set_only(query: QueryDict) -> QueryDict:
    """The query without its empty parameters: an unset filter stays out of the URL."""
    kept = QueryDict(mutable=True)
    for name, values in query.lists():
        kept.setlist(name, [value for value in values if value.strip()])
        if not kept.getlist(name):
            del kept[name]
    return kept


@require_GET
def activity(request):
    query = _set_only(request.GET)
    if query != request.GET:  # a submitted form sends its empty inputs too: show the URL of the set ones
        return redirect(f"{request.path}?{query.urlencode()}" if query else request.path)
    form, filters = _activity_filters(request)
    context = {
        "form": form,
        "page": None,
        "cursor_error": False,
        "suggestions": activity_log.activity_suggestions(user=request.user),
    }
    status = 200
    if filters is None:
        status = 400
    else:
        try:
            page = activity_log.activity_page(
                user=request.user,
                filters=filters,
                before=request.GET.get("before", ""),
                after=request.GET.get("after", ""),
            )
        except activity_log.CursorError:
            context["cursor_error"] = True
            page = activity_log.activity_page(user=request.user, filters=filters)
            status = 400
        context["page"] = page
        query = request.GET.copy()
        for name in ("before", "after"):
            query.pop(name, None)
        context["filter_query"] = query.urlencode()
    return render(request, "usage/activity.html", context, status=status)


@require_GET
def activity_export(request):
    form, filters = _activity_filters(request)
    if filters is None:
        return HttpResponse(
            "Invalid filters: " + "; ".join(e for errors in form.errors.values() for e in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    header = [name.replace("api_key__", "key_") for name in activity_log.ACTIVITY_EXPORT_FIELDS]
    money = {header.index("reported_cost"), header.index("computed_cost")}
    created = header.index("created_at")

    def lines():
        for row in activity_log.activity_export_rows(user=request.user, filters=filters):
            out = list(row)
            out[created] = out[created].isoformat()
            for index in money:
                out[index] = _money(out[index])
            yield ["" if value is None else value for value in out]

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return _csv_response(request, f"activity-{stamp}.csv", header, lines())


@require_GET
def activity_detail(request, entry_id: int):
    try:
        entry = activity_log.activity_entry(user=request.user, entry_id=entry_id)
    except LedgerEntry.DoesNotExist:
        raise Http404("No such request") from None
    breakdown = activity_log.cost_breakdown(entry)
    context = {
        "entry": entry,
        "breakdown": breakdown,
        "conversation": captured_conversation(entry=entry),
        "capture_max_bytes": settings.CAPTURE_MAX_BYTES,
        "savings": entry.cache_savings,
        "breakdown_total": sum((line.cost for line in breakdown if line.cost is not None), start=0),
        "costs_disagree": entry.reported_cost is not None
        and entry.computed_cost is not None
        and spend_report.costs_disagree(entry.reported_cost, entry.computed_cost),
    }
    return render(request, "usage/activity_detail.html", context)


@require_GET
def activity_by_request(request, request_id: str):
    """A request's detail page by our request id: the playground's link to a reply's row."""
    try:
        entry_id = activity_log.activity_entry_id_by_request(user=request.user, request_id=request_id)
    except LedgerEntry.DoesNotExist:
        raise Http404("No such request") from None
    return redirect("activity_detail", entry_id=entry_id)


# A new key's secret waits in the session for the page the creation redirects to, which shows it once and
# drops it: never in a URL (access logs) and never again on a reload.
NEW_KEY_SESSION = "new_api_key"


@never_cache
@require_http_methods(["GET", "POST"])
def keys(request):
    form = KeyCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            created, secret = api_key_create(owner=request.user, **form.cleaned_data)
            request.session[NEW_KEY_SESSION] = {"id": created.id, "name": created.name, "secret": secret}
            return redirect("keys")  # POST/redirect/GET: a reload creates no second key
        status = 400
    new_key = request.session.pop(NEW_KEY_SESSION, None) if request.method == "GET" else None
    context = {
        "rows": key_rows.keys_overview(user=request.user),
        "form": form,
        "created": new_key,
        "secret": new_key["secret"] if new_key else None,
        "model_choices": model_choices(),
        "alert_subscriptions": alert_rows.subscribed_key_ids(user=request.user),
    }
    return render(request, "usage/keys.html", context, status=status)


@require_POST
def key_revoke(request, key_id: int):
    # Owners revoke their own keys here; staff may revoke any (and manage all in the admin).
    api_key = visible_key(user=request.user, key_id=key_id)
    if api_key is None:
        raise Http404("No such key")
    if api_key.revoked_at is None:
        api_key_revoke(api_key=api_key)
        messages.success(request, f"Key {api_key.name} revoked: it stops working within seconds.")
    return redirect("keys")


@never_cache
@require_GET
def status(request):
    """/status/: each upstream up or down, its latest latency, uptime and latency history."""
    rows = upstream_statuses()
    chart = [{"name": row.name, "history": row.history} for row in rows if row.history]
    dead = dead_letter_rows() if request.user.is_staff else 0
    context = {"rows": rows, "chart": chart, "chart_table": latency_table(rows), "dead_letter_rows": dead}
    return render(request, "usage/status.html", context)


@require_POST
def key_alerts(request, key_id: int):
    """The owner of a key opts in (on=1) or out of its alerts, by the e-mail on their user."""
    api_key = visible_key(user=request.user, key_id=key_id)
    if api_key is None or api_key.owner_id != request.user.pk:
        raise Http404("No such key")
    on = request.POST.get("on") == "1"
    try:
        alert_subscription_set(user=request.user, api_key=api_key, on=on)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("keys")
    if on:
        messages.success(
            request, f"The alerts about {api_key.name} will be e-mailed to {request.user.email}."
        )
    else:
        messages.success(request, f"The alerts about {api_key.name} are no longer e-mailed to you.")
    return redirect("keys")


@never_cache
@require_GET
def alerts(request):
    """/alerts/: the rules, recent alerts and deliveries (staff: all; others: their own keys')."""
    return render(request, "usage/alerts.html", {"page": alert_rows.alerts_page(user=request.user)})
