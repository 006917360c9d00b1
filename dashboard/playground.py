"""The playground: chat with any catalogue model through our own gateway, and see what each message costs.

The page itself is server-rendered (the model list reads without JS); static/js/playground.js streams
replies from /api/v1/chat/completions with a short-lived `tlpg_` token from `playground_token`, and
fetches each reply's ledger row (tokens, costs, latency) from `playground_ledger_row`.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from catalog.models import PER_MILLION
from catalog.selectors.catalogue import current_models_priced
from usage.credentials import PLAYGROUND_TOKEN_MAX_AGE, playground_token_issue
from usage.selectors.aliases import aliases_load
from usage.selectors.playground import playground_keys, playground_ledger_entry, playground_most_used_models
from usage.services.keys import playground_key_get_or_create

PLAYGROUND_KEY = "playground"  # the key choice meaning "my playground key, created on first use"
MOST_USED_LIMIT = 8


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": status, "message": message}}, status=status)


def _decimal_text(value: Decimal | None) -> str | None:
    """A Decimal as plain text without trailing zeros ("0.00012345"), None stays None."""
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _per_million(value: Decimal | None) -> str | None:
    return None if value is None else _decimal_text(value * PER_MILLION)


def _picker_models(most_used: list[str]) -> list[dict]:
    """Current catalogue models for the picker, the user's most-used ones first (retired ones hidden)."""
    rank = {model_id: position for position, model_id in enumerate(most_used)}
    models = []
    for row in current_models_priced():
        current = row.current[0] if row.current else None
        params = [p for p in (row.supported_parameters or []) if isinstance(p, str)]
        models.append(
            {
                "id": row.model_id,
                "name": row.name or row.model_id,
                "context_length": row.context_length,
                "parameters": params,
                "reasoning": "reasoning" in params or "include_reasoning" in params,
                "prompt_per_m": _per_million(current.prompt) if current else None,
                "completion_per_m": _per_million(current.completion) if current else None,
                "frequent": row.model_id in rank,
            }
        )
    models.sort(key=lambda m: (rank.get(m["id"], len(rank)), m["id"]))
    return models


def _picker_aliases() -> list[dict]:
    """Enabled aliases for the picker (the gateway chooses their model per message)."""
    return [
        {"id": name, "strategy": alias.strategy, "members": [member.model for member in alias.members]}
        for name, alias in sorted(aliases_load().items())
    ]


@require_GET
def playground(request):
    most_used = playground_most_used_models(user=request.user, limit=MOST_USED_LIMIT)
    models = _picker_models(most_used)
    aliases = _picker_aliases()
    keys = [
        {"id": key.pk, "name": key.name, "prefix": key.prefix, "playground": key.is_playground}
        for key in playground_keys(user=request.user)
    ]
    has_playground_key = any(key["playground"] for key in keys)
    config = {
        "models": models,
        "aliases": aliases,
        "keys": keys,
        "endpoint": "/api/v1/chat/completions",
        "token_url": reverse("playground_token"),
        "ledger_url": reverse("playground_ledger_row"),
        "storage_key": f"tokenledger.playground.{request.user.pk}",
    }
    context = {
        "models": models,
        "frequent": [m for m in models if m["frequent"]],
        "others": [m for m in models if not m["frequent"]],
        "aliases": aliases,
        "keys": keys,
        "has_playground_key": has_playground_key,
        "openrouter_key": bool(settings.OPENROUTER_API_KEY),
        "config": config,
    }
    return render(request, "dashboard/playground.html", context)


@never_cache
@require_POST
def playground_token(request):
    """A `tlpg_` token for the chosen key (the user's own; "playground" creates the playground key)."""
    choice = request.POST.get("key", "").strip()
    if choice in ("", PLAYGROUND_KEY):
        api_key = playground_key_get_or_create(user=request.user)
    else:
        try:
            key_id = int(choice)
        except ValueError:
            return _error("Choose one of your keys.", 400)
        api_key = next((k for k in playground_keys(user=request.user) if k.pk == key_id), None)
        if api_key is None:
            return _error("That key is not one of your usable keys.", 400)
    token = playground_token_issue(user=request.user, api_key=api_key)
    return JsonResponse(
        {
            "token": token,
            "expires_in": PLAYGROUND_TOKEN_MAX_AGE,
            "key": {"id": api_key.pk, "name": api_key.name, "prefix": api_key.prefix},
        }
    )


@never_cache
@require_GET
def playground_ledger_row(request):
    """The ledger row of one playground reply, found by our request id, as JSON (404 until written)."""
    request_id = request.GET.get("request_id", "").strip()
    if not request_id:
        return _error("request_id is required.", 400)
    entry = playground_ledger_entry(user=request.user, request_id=request_id)
    if entry is None:
        return _error("No ledger row for that request yet.", 404)
    return JsonResponse(
        {
            "id": entry.pk,
            "request_id": entry.request_id,
            "url": reverse("activity_by_request", args=[entry.request_id]),
            "status": entry.status,
            "http_status": entry.http_status,
            "requested_model": entry.requested_model,
            "served_model": entry.served_model,
            "provider": entry.provider,
            "prompt_tokens": entry.prompt_tokens,
            "cached_tokens": entry.cached_tokens,
            "cache_write_tokens": entry.cache_write_tokens,
            "completion_tokens": entry.completion_tokens,
            "reasoning_tokens": entry.reasoning_tokens,
            "computed_cost": _decimal_text(entry.computed_cost),
            "reported_cost": _decimal_text(entry.reported_cost),
            "latency_ms": entry.latency_ms,
            "ttft_ms": entry.ttft_ms,
        }
    )
