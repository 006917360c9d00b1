"""The model page's "Refresh providers" button: fetch the model's provider endpoints now, then go back."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from catalog.endpoints import EndpointsError, catalog_fetch_endpoints
from catalog.models import CatalogModel


@require_POST
def providers_refresh(request):
    model_id = request.POST.get("model", "")
    if not CatalogModel.objects.filter(model_id=model_id).exists():
        raise Http404("No such model in the catalogue.")
    try:
        endpoints = catalog_fetch_endpoints(model_id=model_id)
    except EndpointsError as exc:
        messages.error(request, f"Providers not refreshed: {exc}")
    else:
        messages.success(request, f"Providers refreshed: {len(endpoints)} endpoint(s).")
    author, _, slug = model_id.partition("/")
    return redirect("model_detail", author=author, slug=slug)
