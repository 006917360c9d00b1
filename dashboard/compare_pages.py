"""The compare page: 2-6 models side by side, a cost calculator at their effective prices, and the user's own
traffic re-priced row by row at each model's prices.

It lives in dashboard/ because it combines both apps (catalog never imports usage).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.utils import timezone

from catalog.price_schedule import PriceSchedule
from catalog.pricing import PRICE_CATEGORIES, Scenario, scenario_cost, usd, usd_cost, usd_per_m
from catalog.selectors import catalogue as catalog_selectors
from dashboard.model_pages import max_output
from usage.selectors.repricing import traffic_repriced
from usage.selectors.visibility import visible_keys

MAX_COMPARED = 6
TRAFFIC_DAYS = 30
# The prices the calculator reads (static/js/compare.js gets them, and each override's, as JSON).
CALCULATOR_PRICES = (
    "prompt",
    "completion",
    "input_cache_read",
    "input_cache_write",
    "internal_reasoning",
    "request",
)


class CalculatorForm(forms.Form):
    input_tokens = forms.IntegerField(min_value=0, max_value=10**9, initial=1000, label="Input tokens")
    output_tokens = forms.IntegerField(min_value=0, max_value=10**9, initial=500, label="Output tokens")
    cached_percent = forms.IntegerField(
        min_value=0, max_value=100, initial=0, label="Cached share of input (%)"
    )
    cache_write_percent = forms.IntegerField(
        min_value=0, max_value=100, initial=0, label="Cache-write share of input (%)"
    )
    reasoning_tokens = forms.IntegerField(
        min_value=0, max_value=10**9, initial=0, label="Reasoning tokens (of the output tokens)"
    )
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
        cached, written = data.get("cached_percent"), data.get("cache_write_percent")
        if cached is not None and written is not None and cached + written > 100:
            self.add_error("cache_write_percent", "With the cached share it makes more than 100 %.")
        output, reasoning = data.get("output_tokens"), data.get("reasoning_tokens")
        if output is not None and reasoning is not None and reasoning > output:
            self.add_error("reasoning_tokens", "They are part of the output tokens: at most as many.")
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


def _traffic_range(values: dict, now: datetime) -> tuple[datetime, datetime]:
    """From / to dates when given (whole UTC days), else the last `days` days up to now."""
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
    """Price rows of the compare table (base prices); the cheapest cell of each row marked (none when all
    are equal). Input and output are always shown; another category a model does not price (0) shows "—"."""
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


def _js_price(price: Decimal | None) -> str | None:
    return None if price is None else format(price.normalize(), "f")


def calculator_data(schedule: PriceSchedule) -> dict:
    """What static/js/compare.js needs to price a request as catalog.price_schedule does: the base prices
    and each override (its strict prompt-size bound as a whole number, its [start, end) window in minutes of
    the UTC day, whether it can never apply, and the prices it sets), in order."""
    return {
        "base": {f: _js_price(schedule.base.get(f, Decimal(0))) for f in CALCULATOR_PRICES},
        "overrides": [
            {
                "above": None if o.min_prompt_tokens is None else str(int(o.min_prompt_tokens)),
                "window": None if o.window is None else list(o.window),
                "never": bool(o.unknown),
                "prices": {key: _js_price(price) for key, price in o.prices if key in CALCULATOR_PRICES},
            }
            for o in schedule.overrides
        ],
    }


def _marked(values: list) -> list[dict]:
    known = [v for v in values if v is not None]
    cheapest = min(known) if known and len(set(known)) > 1 else None
    return [{"value": v, "text": usd_cost(v), "cheapest": v == cheapest} for v in values]


def _found_rows(requested: list[str], errors: list[str]) -> list:
    if len(requested) > MAX_COMPARED:
        errors.append(
            f"Compare at most {MAX_COMPARED} models: you asked for {len(requested)}, "
            f"the first {MAX_COMPARED} are shown."
        )
        del requested[MAX_COMPARED:]
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
    return [found[model_id] for model_id in requested if model_id in found]


def compare(request):
    """/compare/?models=a,b: 2-6 models side by side, a cost calculator, and our traffic re-priced."""
    requested = parse_model_ids(request)
    errors: list[str] = []
    rows = _found_rows(requested, errors)
    keys = list(visible_keys(user=request.user))
    form = CalculatorForm(
        request.GET if any(f in request.GET for f in CalculatorForm.base_fields) else None, keys=keys
    )
    if form.is_bound and not form.is_valid():
        for name, field_errors in form.errors.items():
            if name == "__all__":
                errors.extend(field_errors)
                continue
            errors.extend(f"{form.fields[name].label}: {e}" for e in field_errors)
    values = {name: form.value(name) if form.is_bound else form.fields[name].initial for name in form.fields}
    scenario = Scenario(**{name: values[name] for name in Scenario.__dataclass_fields__})
    now = timezone.now()
    # The calculator's input tokens per request pick the tier; time windows apply at the current UTC time.
    costs = [scenario_cost(row.schedule.at(scenario.input_tokens, now), scenario) for row in rows]

    start, end = _traffic_range(values, now)
    repriced = traffic_repriced(
        user=request.user,
        schedules=[row.schedule for row in rows],
        now=now,
        start=start,
        end=end,
        api_key_id=values["key"],
    )
    timed = [row.model.name or row.model.model_id for row in rows if row.timed]
    return render(
        request,
        "dashboard/compare.html",
        {
            "rows": rows,
            "requested": requested,
            "errors": errors,
            "hint": "" if len(rows) >= 2 else "Pick at least two models to compare (up to six).",
            "price_table": _compare_rows(rows),
            "max_outputs": [max_output(row.model) for row in rows],
            "form": form,
            "values": values,
            "costs": _marked(costs),
            "now": now,
            "timed": timed,
            "tiered": any(row.tiered for row in rows),
            "traffic": repriced.totals,
            "traffic_start": start,
            "traffic_end": end,
            "repriced": _marked(repriced.costs),
            "rolled_up_before": repriced.rolled_up_before,
            "retention_days": settings.LEDGER_RETENTION_DAYS,
            "actual_cost": usd_cost(repriced.totals.cost),
            "all_models": catalog_selectors.model_choices(),
            "calculator": {
                "minute": now.hour * 60 + now.minute,
                "models": [calculator_data(row.schedule) for row in rows],
            },
        },
    )
