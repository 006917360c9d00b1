"""A model's page and the compare page: catalogue prices next to the ledger's own traffic.

They live in dashboard/ because they combine both apps (catalog never imports usage).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from catalog.price_schedule import MINUTES_PER_DAY, clock_minutes
from catalog.pricing import (
    CATEGORY_LABELS,
    PRICE_CATEGORIES,
    Scenario,
    Usage,
    is_free,
    is_variable,
    per_million,
    plain,
    scenario_cost,
    usage_cost,
    usd,
    usd_cost,
    usd_per_m,
)
from catalog.selectors import catalogue as catalog_selectors
from usage.selectors.traffic import model_traffic, traffic_totals
from usage.selectors.visibility import visible_keys

MAX_COMPARED = 6
TRAFFIC_DAYS = 30


# --- shared -------------------------------------------------------------------------------------------------
def _price_text(field: str, value: Decimal | None) -> str:
    per_token = field not in ("request", "image", "web_search")
    if value is None:
        return "variable"
    return f"{usd_per_m(value)} / 1M tokens" if per_token else f"{usd(value)} {_unit(field)}"


def _unit(field: str) -> str:
    return {"request": "per request", "image": "per image", "web_search": "per web search"}.get(field, "")


def _clock(value, *, default: int) -> str:
    """An HHMM clock number as "HH:MM" (100 -> "01:00", 1030 -> "10:30"); anything else as received."""
    minutes = clock_minutes(value, default=default)
    if minutes is None:
        return str(value)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def explain_overrides(overrides) -> list[str]:
    """Tiered / timed prices in words, as OpenRouter applies them (catalog.price_schedule): "Above 128,000
    input tokens per request: Input $1.00 / 1M, Output $6.00 / 1M." (min_prompt_tokens is a strict lower
    bound); "From 10:00 until 01:00 UTC (overnight): …" (utc_end excluded)."""
    lines = []
    for override in overrides if isinstance(overrides, list) else []:
        if not isinstance(override, dict):
            continue
        conditions = []
        if "min_prompt_tokens" in override:
            tokens = override["min_prompt_tokens"]
            tokens = f"{tokens:,}" if isinstance(tokens, int) else str(tokens)
            conditions.append(f"above {tokens} input tokens per request")
        if "utc_start" in override or "utc_end" in override:
            start = _clock(override.get("utc_start"), default=0)
            end = _clock(override.get("utc_end"), default=MINUTES_PER_DAY)
            overnight = " (overnight)" if start > end and end != "24:00" else ""
            conditions.append(f"from {start} until {end} UTC{overnight}")
        other = [k for k in override if k not in ("min_prompt_tokens", "utc_start", "utc_end")]
        prices = []
        for key in other:
            try:
                value = Decimal(str(override[key]))
            except ArithmeticError:
                prices.append(f"{key} {override[key]}")
                continue
            label = CATEGORY_LABELS.get(key, key.replace("_", " "))
            if key in ("request", "image", "web_search"):
                prices.append(f"{label} {usd(value)}")
            else:
                prices.append(f"{label} {usd_per_m(value)} / 1M")
        condition = " and ".join(conditions) or "under some conditions"
        lines.append(f"{condition[0].upper()}{condition[1:]}: {', '.join(prices)}.")
    return lines


# --- a model's page -----------------------------------------------------------------------------------------
def _price_rows(version) -> list[dict]:
    if version is None:
        return []
    rows = []
    for field, label, _ in PRICE_CATEGORIES:
        value = getattr(version, field)
        if field in ("prompt", "completion") or value != 0:
            rows.append({"field": field, "label": label, "text": _price_text(field, value)})
    for name, raw in sorted((version.extra or {}).items()):
        try:
            value = Decimal(str(raw))
            text = f"{usd_per_m(value)} / 1M tokens" if value >= 0 else "variable"
        except ArithmeticError:
            text = str(raw)
        rows.append({"field": name, "label": name.replace("_", " ").capitalize(), "text": text})
    if version.discount:
        rows.append({"field": "discount", "label": "Discount", "text": f"{plain(version.discount * 100)} %"})
    return rows


def _chart_data(model, versions) -> dict:
    """Step-line points (epoch ms, USD per 1M as a string) per version, plus one at the last sighting."""
    points_in, points_out = [], []
    for version in versions:
        x = int(version.valid_from.timestamp() * 1000)
        points_in.append({"x": x, "y": _json_price(version.prompt)})
        points_out.append({"x": x, "y": _json_price(version.completion)})
    if versions:
        last = versions[-1]
        end = last.valid_to or model.retired_at or max(model.last_seen, last.valid_from)
        x = int(end.timestamp() * 1000)
        points_in.append({"x": x, "y": _json_price(last.prompt)})
        points_out.append({"x": x, "y": _json_price(last.completion)})
    return {"input": points_in, "output": points_out, "unit": "USD per 1M tokens"}


def _json_price(price: Decimal | None) -> str | None:
    return None if price is None else plain(per_million(price))


def _version_rows(versions) -> list[dict]:
    rows = []
    for version in reversed(versions):
        extra = [
            f"{CATEGORY_LABELS[f]} {_price_text(f, getattr(version, f))}"
            for f, _, _ in PRICE_CATEGORIES
            if f not in ("prompt", "completion", "input_cache_read") and getattr(version, f) != 0
        ]
        rows.append({"version": version, "extra": extra})
    return rows


def _max_output(model) -> int | None:
    return model.max_completion_tokens or (model.top_provider or {}).get("max_completion_tokens")


def model_detail(request, author: str, slug: str):
    """/models/<author>/<slug>/: everything known about one model, its price history and our traffic on it."""
    found = catalog_selectors.catalog_model_detail(model_id=f"{author}/{slug}")
    if found is None:
        raise Http404(f"No model {author}/{slug} in the catalogue.")
    model, versions = found
    current = versions[-1] if versions else None
    prices = current.prices() if current else {}
    max_output = _max_output(model)
    return render(
        request,
        "dashboard/model_detail.html",
        {
            "model": model,
            "current": current,
            "free": bool(current) and is_free(prices),
            "variable": bool(current) and is_variable(prices),
            "price_rows": _price_rows(current),
            "overrides": explain_overrides(current.overrides if current else []),
            "versions": _version_rows(versions),
            "chart": _chart_data(model, versions),
            "max_output": max_output,
            "moderated": (model.top_provider or {}).get("is_moderated"),
            "traffic": model_traffic(user=request.user, model_id=model.model_id),
            "providers": catalog_selectors.provider_endpoints(catalog_model_id=model.pk),
        },
    )


# --- the compare page ---------------------------------------------------------------------------------------
class CalculatorForm(forms.Form):
    input_tokens = forms.IntegerField(min_value=0, max_value=10**9, initial=1000, label="Input tokens")
    output_tokens = forms.IntegerField(min_value=0, max_value=10**9, initial=500, label="Output tokens")
    cached_percent = forms.IntegerField(
        min_value=0, max_value=100, initial=0, label="Cached share of input (%)"
    )
    reasoning_tokens = forms.IntegerField(min_value=0, max_value=10**9, initial=0, label="Reasoning tokens")
    requests = forms.IntegerField(min_value=1, max_value=10**9, initial=1, label="Requests")
    days = forms.IntegerField(
        min_value=1, max_value=366, initial=TRAFFIC_DAYS, label="Traffic of the last … days"
    )
    start = forms.DateField(label="From (UTC date)")
    end = forms.DateField(label="To (UTC date, included)")
    key = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Key")

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", "The range ends before it starts.")
        return data

    def __init__(self, data, *, keys):
        super().__init__(data)
        for field in self.fields.values():
            field.required = False  # a parameter left out of the query string takes its default
        self.fields["key"].choices = [("", "all my keys")] + [(k.pk, str(k)) for k in keys]

    def value(self, name):
        """The valid submitted value, else the default (the error is shown)."""
        if self.is_valid() or name not in self.errors:
            value = self.cleaned_data.get(name)
            if value is not None or name in ("key", "start", "end"):
                return value
        return self.fields[name].initial


def _traffic_range(values: dict) -> tuple[datetime, datetime]:
    """From / to dates when given (whole UTC days), else the last `days` days up to now."""
    now = timezone.now()
    if values.get("start") or values.get("end"):
        first = values.get("start") or (values.get("end") or now.date()) - timedelta(days=values["days"] - 1)
        last = values.get("end") or now.date()
        start = datetime.combine(first, time.min, tzinfo=UTC)
        return start, datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    return now - timedelta(days=values["days"]), now


def parse_model_ids(request) -> list[str]:
    """`?models=a,b,c`, or one `models` parameter per model (the catalogue's checkboxes), order kept."""
    ids = []
    for raw in request.GET.getlist("models"):
        for part in raw.split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part)
    return ids


def _compare_rows(rows) -> list[dict]:
    """Price rows of the compare table; the cheapest cell of each row marked (none when all are equal).

    Input and output are always shown; another category a model does not price (0) shows "—".
    """
    table = []
    for field, label, per_token in PRICE_CATEGORIES:
        base = field in ("prompt", "completion")
        values = [row.prices.get(field, Decimal(0)) for row in rows]
        if not base and all(v == 0 for v in values):
            continue
        known = [v for v in values if v is not None and (base or v > 0)]
        cheapest = min(known) if len(set(known)) > 1 else None
        cells = []
        for v in values:
            if v == 0 and not base:
                cells.append({"text": "—", "cheapest": False})
            else:
                text = usd_per_m(v) if per_token else usd(v)
                cells.append({"text": text, "cheapest": v is not None and v == cheapest})
        table.append({"label": f"{label} / 1M tokens" if per_token else label, "cells": cells})
    return table


def compare(request):
    """/compare/?models=a,b: 2-6 models side by side, a cost calculator, and our traffic re-priced."""
    requested = parse_model_ids(request)
    errors = []
    if len(requested) > MAX_COMPARED:
        errors.append(
            f"Compare at most {MAX_COMPARED} models: you asked for {len(requested)}, "
            f"the first {MAX_COMPARED} are shown."
        )
        requested = requested[:MAX_COMPARED]
    found = (
        {
            row.model.model_id: row
            for row in catalog_selectors.catalogue_models(include_retired=True, model_ids=requested)
        }
        if requested
        else {}
    )
    unknown = [model_id for model_id in requested if model_id not in found]
    if unknown:
        shown = ", ".join("".join(c if c.isprintable() else "\ufffd" for c in i)[:200] for i in unknown)
        errors.append(f"Unknown model{'s' if len(unknown) > 1 else ''}: {shown}.")
    rows = [found[model_id] for model_id in requested if model_id in found]
    hint = ""
    if len(rows) < 2:
        hint = "Pick at least two models to compare (up to six)."

    keys = list(visible_keys(user=request.user))
    form = CalculatorForm(
        request.GET if any(f in request.GET for f in CalculatorForm.base_fields) else None, keys=keys
    )
    if form.is_bound and not form.is_valid():
        for name, field_errors in form.errors.items():
            errors.extend(f"{form.fields[name].label}: {e}" for e in field_errors)
    values = {name: form.value(name) if form.is_bound else form.fields[name].initial for name in form.fields}
    scenario = Scenario(
        input_tokens=values["input_tokens"],
        output_tokens=values["output_tokens"],
        cached_percent=values["cached_percent"],
        reasoning_tokens=values["reasoning_tokens"],
        requests=values["requests"],
    )
    costs = [scenario_cost(row.prices, scenario) for row in rows]

    start, end = _traffic_range(values)
    totals = traffic_totals(user=request.user, start=start, end=end, api_key_id=values["key"])
    usage = Usage(
        input_tokens=totals.prompt_tokens,
        cached_tokens=totals.cached_tokens,
        cache_write_tokens=totals.cache_write_tokens,
        output_tokens=max(totals.completion_tokens - totals.reasoning_tokens, 0),
        reasoning_tokens=totals.reasoning_tokens,
        requests=totals.requests,
        web_searches=totals.web_search_requests,
    )
    repriced = [usage_cost(row.prices, usage) for row in rows]

    def marked(values_: list) -> list[dict]:
        known = [v for v in values_ if v is not None]
        cheapest = min(known) if known and len(set(known)) > 1 else None
        return [{"value": v, "text": usd_cost(v), "cheapest": v == cheapest} for v in values_]

    return render(
        request,
        "dashboard/compare.html",
        {
            "rows": rows,
            "requested": requested,
            "errors": errors,
            "hint": hint,
            "price_table": _compare_rows(rows),
            "max_outputs": [_max_output(row.model) for row in rows],
            "form": form,
            "values": values,
            "costs": marked(costs),
            "traffic": totals,
            "traffic_start": start,
            "traffic_end": end,
            "repriced": marked(repriced),
            "actual_cost": usd_cost(totals.cost),
            "all_models": catalog_selectors.model_choices(),
            "calculator": [
                {
                    f: (
                        None
                        if row.prices.get(f) is None
                        else format((row.prices.get(f) or Decimal(0)).normalize(), "f")
                    )
                    for f in ("prompt", "completion", "input_cache_read", "internal_reasoning", "request")
                }
                for row in rows
            ],
        },
    )
