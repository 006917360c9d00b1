"""Provider endpoints on pages: the model page's "Refresh providers" button, and one provider's models."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from catalog.selectors import catalogue as page_selectors
from catalog.services.provider_endpoints import EndpointsError, catalog_fetch_endpoints


@require_POST
def providers_refresh(request):
    model_id = request.POST.get("model", "")
    if not page_selectors.is_openrouter_model(model_id):
        raise Http404("No such OpenRouter model in the catalogue.")
    try:
        endpoints = catalog_fetch_endpoints(model_id=model_id)
    except EndpointsError as exc:
        ok, text = False, f"Providers not refreshed: {exc}"
    else:
        ok, text = True, f"Providers refreshed: {len(endpoints)} endpoint(s)."
    if "application/json" in request.headers.get("Accept", ""):
        # static/js/model_detail.js: the result shown next to the button, the table reloaded in place.
        return JsonResponse({"ok": ok, "message": text}, status=200 if ok else 502)
    (messages.success if ok else messages.error)(request, text)
    author, _, slug = model_id.partition("/")
    return redirect("model_detail", author=author, slug=slug)


@require_GET
def provider_detail(request, name: str):
    """/providers/<name>/: the models this provider serves (last fetched), each linking to its providers."""
    endpoints = page_selectors.endpoints_of_provider(provider_name=name)
    return render(request, "dashboard/provider_detail.html", {"name": name, "endpoints": endpoints})
