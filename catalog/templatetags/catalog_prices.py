"""Price filters: `{{ price|per_m }}` -> "$2.50" (per 1M tokens), `{{ price|usd }}` -> "$0.0004"."""

from __future__ import annotations

from urllib.parse import quote

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape, format_html
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


# The /models/ table body is its hot path (every model on every view): one tag builds the rows with
# format_html (escaped like a template) instead of ~100 template nodes per row.
ROW = (
    '<tr data-model="{id}">'
    '<td><input type="checkbox" name="models" value="{id}" form="compare-form"'
    ' aria-label="Compare {id}"></td>'
    '<td class="model"><a href="{url}">{name}</a>{badges}<div class="mono muted">{id}</div></td>'
    "<td>{author}</td>"
    '<td class="num">{context}</td><td class="num">{input}</td><td class="num">{output}</td>'
    '<td class="num">{cache_read}</td><td class="num">{cache_write}</td><td class="num">{units}</td>'
    '<td class="num">{created}</td><td class="modal">{modalities}</td><td>{capabilities}</td></tr>\n'
)
FREE_BADGE = mark_safe(' <span class="badge free">free</span>')  # noqa: S308
VARIABLE_BADGE = mark_safe(' <span class="badge variable">variable price</span>')  # noqa: S308
RETIRED_BADGE = mark_safe(' <span class="badge retired">retired</span>')  # noqa: S308


def _optional(price) -> str:
    """A category the model does not price (0) shows "—"; None is "variable"."""
    return "—" if price == 0 else pricing.usd_per_m(price)


@register.simple_tag
def catalogue_rows(rows) -> str:
    base = reverse("catalog:models")
    html = []
    for row in rows:
        m, p = row.model, row.prices
        badges = FREE_BADGE if row.free else VARIABLE_BADGE if row.variable else ""
        if m.retired_at:
            badges = mark_safe(f"{badges}{RETIRED_BADGE}")  # noqa: S308
        units = [
            f"{pricing.usd(p[k])}/{unit}" for k, unit in (("request", "req"), ("image", "img")) if p.get(k)
        ]
        html.append(
            format_html(
                ROW,
                id=m.model_id,
                url=f"{base}{quote(m.model_id, safe=RFC3986_SUBDELIMS + '/~:@')}/",
                name=m.name or m.model_id,
                badges=badges,
                author=m.author,
                context="—" if m.context_length is None else m.context_length,
                input=pricing.usd_per_m(p.get("prompt")),
                output=pricing.usd_per_m(p.get("completion")),
                cache_read=_optional(p.get("input_cache_read")),
                cache_write=_optional(p.get("input_cache_write")),
                units=mark_safe("<br>".join(conditional_escape(u) for u in units) or "—"),  # noqa: S308
                created=m.created.strftime("%Y-%m-%d") if m.created else "—",
                modalities=f"{'+'.join(m.input_modalities or [])} → {'+'.join(m.output_modalities or [])}",
                capabilities=", ".join(row.capabilities),
            )
        )
    return mark_safe("".join(html))  # noqa: S308
