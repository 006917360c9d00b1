"""The catalogue pages: the /models/ table and the change feed's page (its Atom feed: catalog/feed.py)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import PurePath
from urllib.parse import urlsplit

from django import forms
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from catalog.pricing import CATEGORY_LABELS, PER_TOKEN, usd, usd_per_m
from catalog.selectors import catalogue as selectors
from catalog.selectors.feed_tokens import feed_token_of

SORT_CHOICES = [(key, key) for key in selectors.SORT_KEYS] + [
    (f"-{key}", f"-{key}") for key in selectors.SORT_KEYS
]
# Table columns that sort: (key, label, numeric?); a first click sorts ascending (numbers: cheapest first).
# The classes let narrow screens drop columns and keep the prices (static/css/catalog.css).
SORT_COLUMNS = (
    ("name", "Model", False, ""),
    ("context", "Context", True, "col-context"),
    ("input", "Input /1M", True, ""),
    ("output", "Output /1M", True, ""),
    ("cache_read", "Cache read", True, "col-cache"),
    ("cache_write", "Cache write", True, "col-cache"),
    ("request", "Request / image", True, "col-unit"),
    ("created", "Created", True, "col-created"),
    ("modalities", "Modalities", False, "modal"),
    ("capabilities", "Capabilities", False, "caps"),
)

FEED_SECRET_SESSION_KEY = "catalog.new_feed_secret"  # shown once on the changes page, then dropped
DESCENDING_FIRST = {"created", "capabilities"}  # newest / most capable first on a first click


class CatalogueFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    author = forms.CharField(required=False, max_length=100)
    input_modality = forms.CharField(required=False, max_length=40, label="Input")
    output_modality = forms.CharField(required=False, max_length=40, label="Output")
    parameter = forms.CharField(required=False, max_length=60, label="Supports")
    max_input = forms.DecimalField(
        required=False, min_value=0, max_digits=20, decimal_places=6, label="Max input $/1M"
    )
    max_output = forms.DecimalField(
        required=False, min_value=0, max_digits=20, decimal_places=6, label="Max output $/1M"
    )
    min_context = forms.IntegerField(required=False, min_value=0, label="Min context")
    free = forms.BooleanField(required=False, label="Free only")
    retired = forms.BooleanField(required=False, label="Include retired")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)

    def clean_sort(self):
        return self.cleaned_data.get("sort") or selectors.DEFAULT_SORT

    def filters(self) -> selectors.CatalogueFilters:
        """The valid part of the query string; invalid fields are dropped (their errors are shown)."""
        self.is_valid()
        data = {name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors}
        return selectors.CatalogueFilters(
            q=data.get("q") or "",
            author=data.get("author") or "",
            input_modality=data.get("input_modality") or "",
            output_modality=data.get("output_modality") or "",
            parameter=data.get("parameter") or "",
            max_input=data.get("max_input"),
            max_output=data.get("max_output"),
            min_context=data.get("min_context"),
            free=bool(data.get("free")),
            include_retired=bool(data.get("retired")),
            sort=data.get("sort") or selectors.DEFAULT_SORT,
        )


def _error_messages(form: forms.Form) -> list[str]:
    messages = []
    for name, errors in form.errors.items():
        label = form.fields[name].label or name
        for error in errors:
            if name == "sort":
                error = f"Unknown sort order “{form.data.get('sort')}”: sorted by newest instead."
            messages.append(f"{label}: {error}")
    return messages


def _sort_header(request, key: str, label: str, numeric: bool, current: str, css: str = "") -> dict:
    """A column header's link: a first click sorts ascending (or newest first...), a second reverses."""
    descending = current.startswith("-")
    if key == current.lstrip("-"):
        next_sort, arrow = (key, "▼") if descending else (f"-{key}", "▲")
    else:
        next_sort, arrow = (f"-{key}" if key in DESCENDING_FIRST else key), ""
    query = _set_fields(request.GET)
    query.pop("sort", None)
    if next_sort != selectors.DEFAULT_SORT:
        query["sort"] = next_sort
    aria = ("descending" if descending else "ascending") if arrow else "none"
    return {
        "key": key,
        "label": label,
        "numeric": numeric,
        "css": " ".join(name for name in ("num" if numeric else "", css) if name),
        "url": f"?{query.urlencode()}" if query else request.path,
        "arrow": arrow,
        "aria": aria,
    }


def _set_fields(query: QueryDict) -> QueryDict:
    """The query string without its empty fields and the default sort: a submitted form sends them all."""
    kept = QueryDict(mutable=True)
    for name, values in query.lists():
        values = [value for value in values if value.strip()]
        if name == "sort":
            values = [value for value in values if value != selectors.DEFAULT_SORT]
        if values:
            kept.setlist(name, values)
    return kept


def models(request):
    """/models/: every current model in one table; all filter and sort state in the query string (only the
    fields that are set: a URL with empty ones redirects to the one without)."""
    kept = _set_fields(request.GET)
    if kept.urlencode() != request.GET.urlencode():
        return redirect(request.path + (f"?{kept.urlencode()}" if kept else ""))
    form = CatalogueFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound else selectors.CatalogueFilters()
    catalogue = selectors.models_for_catalogue(filters=filters)
    active = any(value not in ("", None, False) for key, value in request.GET.items() if key not in ("sort",))
    return render(
        request,
        "catalog/models.html",
        {
            "form": form,
            "filters": filters,
            "catalogue": catalogue,
            "errors": _error_messages(form) if form.is_bound else [],
            "headers": [
                _sort_header(request, k, label, num, filters.sort, css) for k, label, num, css in SORT_COLUMNS
            ],
            "id_header": _sort_header(request, "id", "id", False, filters.sort),
            "author_header": _sort_header(request, "author", "author", False, filters.sort),
            "filtered": active,
            "sort": filters.sort,
        },
    )


# --- The change feed -------------------------------------------------------------------------------------


def _price_change_text(old: dict, new: dict) -> list[dict]:
    """[{"label", "old", "new"}] for every category whose price moved, per 1M for token categories."""

    def shown(category: str, value) -> str:
        if value is None:
            return "variable"
        try:
            price = Decimal(str(value))
        except ArithmeticError:
            return str(value)
        if price < 0:
            return "variable"
        return f"{usd_per_m(price)}/1M" if category in PER_TOKEN else usd(price)

    changes = []
    for category in [c for c in CATEGORY_LABELS if c in old or c in new] + sorted(
        (set(old) | set(new)) - set(CATEGORY_LABELS)
    ):
        before, after = old.get(category, "0"), new.get(category, "0")
        if shown(category, before) == shown(category, after):
            continue
        label, old_text, new_text = (
            CATEGORY_LABELS.get(category, category),
            shown(category, before),
            shown(category, after),
        )
        changes.append(
            {"label": label, "old": old_text, "new": new_text, "text": f"{label} {old_text} → {new_text}"}
        )
    return changes


def sync_source_text(source: str) -> str:
    """Where a sync's listing came from, in words: "the bundled snapshot of 2026-08-19", "OpenRouter's Models
    API", "the Models API at https://…", "the file models.json"."""
    held, _, rest = source.partition(" applied anyway: ")
    if rest and held.startswith("held run "):
        return f"{sync_source_text(rest)} (held, then applied anyway)"
    found = re.fullmatch(r"bundled snapshot models-(\d{4}-\d{2}-\d{2})\.json(\.gz)?", source)
    if found:
        return f"the bundled snapshot of {found.group(1)}"
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        if parts.hostname in ("openrouter.ai", "www.openrouter.ai"):
            return "OpenRouter's Models API"
        return f"the Models API at {source}"
    return f"the file {PurePath(source).name}" if source else "an unknown source"


def run_view(run) -> dict:
    changes = run.changes or {}
    repriced = []
    for entry in changes.get("repriced") or []:
        if isinstance(entry, dict) and entry.get("model_id"):
            repriced.append(
                {
                    "model_id": entry["model_id"],
                    "changes": _price_change_text(entry.get("old") or {}, entry.get("new") or {}),
                }
            )
    return {
        "run": run,
        "source": sync_source_text(run.source),
        # The first import (the catalogue was empty): one line, not hundreds of "added".
        "initial": run.models_count > 0
        and run.added == run.models_count
        and not (run.repriced or run.retired or changes.get("returned")),
        "added": [m for m in changes.get("added") or [] if isinstance(m, str)],
        "repriced": repriced,
        "retired": [m for m in changes.get("retired") or [] if isinstance(m, str)],
        "returned": [m for m in changes.get("returned") or [] if isinstance(m, str)],
    }


def changes(request):
    """/catalog/changes/: per sync run, the models added, repriced (old -> new per 1M) and retired; the
    user's feed-reader link (its secret shown once, right after it was made)."""
    paginator = Paginator(selectors.catalog_changes(), 10)
    page = paginator.get_page(request.GET.get("page"))
    secret = request.session.pop(FEED_SECRET_SESSION_KEY, None)
    feed_url = reverse("catalog:changes_feed")
    return render(
        request,
        "catalog/changes.html",
        {
            "page": page,
            "runs": [run_view(run) for run in page.object_list],
            "feed_token": feed_token_of(user=request.user),
            "new_feed_url": request.build_absolute_uri(f"{feed_url}?token={secret}") if secret else "",
        },
    )
