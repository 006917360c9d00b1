"""Price filters: `{{ price|per_m }}` -> "$2.50" (per 1M tokens), `{{ price|usd }}` -> "$0.0004"."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import mark_safe

from catalog import pricing

register = template.Library()


@register.filter
def per_m(price):
    """A per-token price shown per 1M tokens; None (OpenRouter's -1) is "variable"."""
    return pricing.usd_per_m(price)


@register.filter
def usd(price):
    return pricing.usd(price)


@register.filter
def usd_cost(value):
    return pricing.usd_cost(value)


@register.filter
def model_url(model_id: str) -> str:
    """The page of a model id ("author/slug"), served by dashboard's `model_detail`."""
    author, _, slug = str(model_id).partition("/")
    if not slug:
        return ""
    try:
        return reverse("model_detail", args=[author, slug])
    except NoReverseMatch:
        return ""


# The /models/ table body is its hot path (every model on every view): one tag builds the rows, every
# catalogue string escaped, instead of ~100 template nodes per row.
FREE_BADGE = ' <span class="badge free">free</span>'
VARIABLE_BADGE = ' <span class="badge variable">variable price</span>'
RETIRED_BADGE = ' <span class="badge retired">retired</span>'
TIERED_BADGE = (
    ' <span class="badge tiered" title="Prices above a prompt size differ: see the model page">tiered</span>'
)
TIMED_BADGE = (
    ' <span class="badge timed" title="Prices change by UTC time of day: see the model page">timed</span>'
)


@register.simple_tag
def price_badges(free=False, variable=False, tiered=False, timed=False, retired=False) -> str:
    """The price badges, one way everywhere (/models/, /compare/, a model's page): `{% price_badges free
    variable tiered timed retired %}`, each a leading space and a <span>."""
    badges = FREE_BADGE if free else VARIABLE_BADGE if variable else ""
    badges += (
        (TIERED_BADGE if tiered else "") + (TIMED_BADGE if timed else "") + (RETIRED_BADGE if retired else "")
    )
    return mark_safe(badges)  # noqa: S308 - constant markup, nothing from the catalogue


@lru_cache(maxsize=4096)
def _per_m(price) -> str:
    """A per-token price per 1M tokens (prices repeat a lot across models: cached)."""
    return pricing.usd_per_m(price)


@lru_cache(maxsize=1024)
def _unit_price(price) -> str:
    return pricing.usd(price)


def _optional(price) -> str:
    return "—" if price == 0 else _per_m(price)


def _trim(number: float, digits: int) -> str:
    text = f"{number:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def context_tokens(value) -> str:
    """A context length as OpenRouter writes it: 131072 -> "131K", 1048576 -> "1.05M", 8192 -> "8K"."""
    if value is None or value == "":
        return "—"
    tokens = int(value)
    if tokens >= 999_500:
        millions = tokens / 1_000_000
        return _trim(millions, max(0, 2 - len(str(int(millions))) + 1)) + "M"  # three significant digits
    if tokens >= 1000:
        return f"{int(tokens / 1000 + 0.5)}K"
    return str(tokens)


@register.simple_tag
def catalogue_rows(rows) -> str:
    base = reverse("catalog:models")
    safe_chars = RFC3986_SUBDELIMS + "/~:@"
    html = []
    for row in rows:
        m, p = row.model, row.prices
        model_id = escape(m.model_id)
        badges = price_badges(row.free, row.variable, row.tiered, row.timed, bool(m.retired_at))
        units = "<br>".join(
            f"{escape(_unit_price(p[k]))}/{unit}"
            for k, unit in (("request", "req"), ("image", "img"))
            if p.get(k)
        )
        html.append(
            f'<tr data-model="{model_id}">'
            f'<td><input type="checkbox" name="models" value="{model_id}" form="compare-form"'
            f' aria-label="Compare {model_id}"></td>'
            f'<td class="model"><a href="{escape(base + quote(m.model_id, safe=safe_chars))}/">'
            f"{escape(m.name or m.model_id)}</a>{badges}"
            f'<div class="mono muted">{model_id}</div></td>'
            f'<td class="num col-context">{context_tokens(m.context_length)}</td>'
            f'<td class="num">{_per_m(p.get("prompt"))}</td>'
            f'<td class="num">{_per_m(p.get("completion"))}</td>'
            f'<td class="num col-cache">{_optional(p.get("input_cache_read"))}</td>'
            f'<td class="num col-cache">{_optional(p.get("input_cache_write"))}</td>'
            f'<td class="num col-unit">{units or "—"}</td>'
            f'<td class="num col-created">{m.created.strftime("%Y-%m-%d") if m.created else "—"}</td>'
            f'<td class="modal">{escape("+".join(m.input_modalities or []))} → '
            f"{escape('+'.join(m.output_modalities or []))}</td>"
            f'<td class="caps">{escape(", ".join(row.capabilities))}</td></tr>\n'
        )
    return mark_safe("".join(html))  # noqa: S308 - every catalogue value above went through escape()
