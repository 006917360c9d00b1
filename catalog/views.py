"""The catalogue pages: the /models/ table and the change feed (page + Atom)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import format_html_join

from catalog.pricing import CATEGORY_LABELS, PER_TOKEN, usd, usd_per_m
from catalog.selectors import catalogue as selectors

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
        changes.append(
            {
                "label": CATEGORY_LABELS.get(category, category),
                "old": shown(category, before),
                "new": shown(category, after),
            }
        )
    return changes


def _run_view(run) -> dict:
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
        "added": [m for m in changes.get("added") or [] if isinstance(m, str)],
        "repriced": repriced,
        "retired": [m for m in changes.get("retired") or [] if isinstance(m, str)],
        "returned": [m for m in changes.get("returned") or [] if isinstance(m, str)],
    }


def changes(request):
    """/catalog/changes/: per sync run, the models added, repriced (old -> new per 1M) and retired."""
    paginator = Paginator(selectors.catalog_changes(), 10)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "catalog/changes.html",
        {"page": page, "runs": [_run_view(run) for run in page.object_list]},
    )


class ChangesFeed(Feed):
    """/catalog/changes/feed/: the same, as Atom (one entry per sync run that changed something)."""

    feed_type = Atom1Feed
    title = "Tokenledger: OpenRouter catalogue changes"
    subtitle = "Models added, repriced and retired, per catalogue sync."

    def link(self):
        return reverse("catalog:changes")

    def items(self):
        return selectors.catalog_changes()[:30]

    def item_title(self, run):
        return (
            f"Catalogue sync {run.started_at:%Y-%m-%d %H:%M} UTC: {run.added} added, "
            f"{run.repriced} repriced, {run.retired} retired"
        )

    def item_description(self, run):
        view = _run_view(run)
        parts = []
        for label, ids in (
            ("Added", view["added"]),
            ("Retired", view["retired"]),
            ("Back", view["returned"]),
        ):
            if ids:
                parts.append(
                    format_html_join("", "<p>{}: {}</p>", [(label, ", ".join(ids))]),
                )
        for entry in view["repriced"]:
            text = "; ".join(f"{c['label']} {c['old']} → {c['new']}" for c in entry["changes"])
            parts.append(format_html_join("", "<p>Repriced {}: {}</p>", [(entry["model_id"], text)]))
        return "".join(parts)

    def item_link(self, run):
        return f"{reverse('catalog:changes')}#sync-{run.pk}"

    def item_pubdate(self, run):
        return run.finished_at or run.started_at

    def item_updateddate(self, run):
        return run.finished_at or run.started_at
