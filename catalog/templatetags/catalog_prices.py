"""Price filters: `{{ price|per_m }}` -> "$2.50" (per 1M tokens), `{{ price|usd }}` -> "$0.0004"."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from catalog import pricing

register = template.Library()


@register.filter
def per_m(price):
    """A per-token price shown per 1M tokens; None (OpenRouter's -1) is "variable"."""
    return pricing.usd(pricing.per_million(price))


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
