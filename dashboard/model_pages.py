"""A model's page: catalogue prices next to the ledger's own traffic (the compare page: compare_pages.py).

It lives in dashboard/ because it combines both apps (catalog never imports usage).
"""

from __future__ import annotations

from decimal import Decimal

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from catalog.description import description_html
from catalog.price_schedule import MINUTES_PER_DAY, PriceSchedule, clock_minutes
from catalog.pricing import (
    CATEGORY_LABELS,
    PRICE_CATEGORIES,
    is_free,
    is_variable,
    per_million,
    plain,
    usd,
    usd_per_m,
)
from catalog.selectors import catalogue as catalog_selectors
from usage.charts import ChartRow, ChartTable
from usage.selectors.repricing import traffic_repriced


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


def _chart_data(model, versions) -> tuple[dict, ChartTable]:
    """Step-line points (epoch ms, USD per 1M as a string) per version, plus one at the last sighting; and
    the same points as the table shown without JavaScript."""
    points = [(version.valid_from, version) for version in versions]
    if versions:
        last = versions[-1]
        points.append((last.valid_to or model.retired_at or max(model.last_seen, last.valid_from), last))
    chart = {
        "input": [{"x": _epoch_ms(moment), "y": _json_price(v.prompt)} for moment, v in points],
        "output": [{"x": _epoch_ms(moment), "y": _json_price(v.completion)} for moment, v in points],
        "unit": "USD per 1M tokens",
    }
    table = ChartTable(
        caption="Input and output price per 1M tokens over time",
        head=("Date (UTC)", "Input /1M", "Output /1M"),
        rows=tuple(
            ChartRow(moment.strftime("%Y-%m-%d %H:%M"), (_per_m(v.prompt), _per_m(v.completion)))
            for moment, v in points
        ),
        money=True,
    )
    return chart, table


def _epoch_ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def _per_m(price: Decimal | None) -> Decimal | None:
    return None if price is None else per_million(price)


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


def max_output(model) -> int | None:
    return model.max_completion_tokens or (model.top_provider or {}).get("max_completion_tokens")


def model_detail(request, author: str, slug: str):
    """/models/<author>/<slug>/: everything known about one model, its price history and our traffic on it."""
    found = catalog_selectors.catalog_model_detail(model_id=f"{author}/{slug}")
    if found is None:
        raise Http404(f"No model {author}/{slug} in the catalogue.")
    model, versions = found
    current = versions[-1] if versions else None
    prices = current.prices() if current else {}
    chart, chart_table = _chart_data(model, versions)
    return render(
        request,
        "dashboard/model_detail.html",
        {
            "model": model,
            "description": description_html(model.description),
            "defaults": {k: v for k, v in (model.default_parameters or {}).items() if v is not None},
            "current": current,
            "free": bool(current) and is_free(prices),
            "variable": bool(current) and is_variable(prices),
            "price_rows": _price_rows(current),
            "overrides": explain_overrides(current.overrides if current else []),
            "versions": _version_rows(versions),
            "chart": chart,
            "chart_table": chart_table,
            "max_output": max_output(model),
            "moderated": (model.top_provider or {}).get("is_moderated"),
            **_traffic(request.user, model, current),
            "providers": catalog_selectors.provider_endpoints(catalog_model_id=model.pk),
        },
    )


def _traffic(user, model, current) -> dict:
    """All of the user's traffic on the model, and what it would cost at today's prices, row by row."""
    schedule = None if current is None else PriceSchedule.of(current.prices(), current.overrides)
    now = timezone.now()
    repriced = traffic_repriced(
        user=user, schedules=[schedule] if schedule else [], now=now, model_id=model.model_id
    )
    return {
        "traffic": repriced.totals,
        "traffic_at_today": repriced.costs[0] if schedule else None,
        "traffic_rolled_up_before": repriced.rolled_up_before,
    }
