"""The gateway's GET endpoints: /api/v1/models and /api/v1/key (the key itself: its spend this period,
limits, expiry), in OpenRouter's shapes.

/models without a key answers as OpenRouter's public endpoint does: OpenRouter's models only (no alias, no
other upstream's model is shown to a stranger). With a key: the current models the key may use, manual
models included, then the enabled aliases it may use. Every entry has OpenRouter's full shape, `pricing`
included; an alias takes its first member's entry (prices, context, parameters) under its own id, with
`tokenledger_alias: {"strategy", "members"}` added.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import orjson

from catalog.model_ids import base_model_id
from catalog.models_api import model_entry, pricing_object
from usage.gateway.auth import KeyInfo
from usage.gateway.lookup import by_usage
from usage.gateway.snapshot import Catalogue, Routing
from usage.routing import AliasSpec

Listing = list[tuple[str, bool, dict]]  # (id, synced from OpenRouter, Models API object)


def public_models_body(listing: Listing) -> bytes:
    """What anyone may see: OpenRouter's models."""
    return orjson.dumps({"data": [entry for _id, openrouter, entry in listing if openrouter]})


def models_body(
    key: KeyInfo, listing: Listing, routing: Routing, catalogue: Catalogue, ranking: tuple[str, ...] = ()
) -> bytes:
    """The current models this key may use (those of `ranking` first, in its order), then the aliases it
    may."""
    data = by_usage([entry for model_id, _openrouter, entry in listing if key.allows(model_id)], ranking)
    entries = {model_id: entry for model_id, _openrouter, entry in listing}
    for name, alias in sorted(routing.aliases.items()):
        members = [member.model for member in alias.members]
        if key.allows(name) or any(key.allows(model_id) for model_id in members):
            data.append(alias_entry(name, alias, entries, catalogue))
    return orjson.dumps({"data": data})


def alias_entry(name: str, alias: AliasSpec, entries: dict[str, dict], catalogue: Catalogue) -> dict:
    members = [member.model for member in alias.members]
    first = members[0] if members else ""
    found = entries.get(first) or entries.get(base_model_id(first))
    if found is None:  # not a current model: its last known prices, else variable ones
        found = model_entry(
            model_id=first, name=first, description="", created=None, context_length=None,
            pricing=pricing_object(catalogue.prices_of(first)) if first else pricing_object(None),
        )  # fmt: skip
    return {
        **found,
        "id": name,
        "canonical_slug": name,
        "hugging_face_id": "",
        "name": name,
        "created": 0,
        "description": f"Alias ({alias.strategy}) for {', '.join(members)}",
        "links": {"details": ""},
        "tokenledger_alias": {"strategy": alias.strategy, "members": members},
    }


def key_body(key: KeyInfo, spent: Decimal) -> bytes:
    """The key as OpenRouter's GET /key describes one, `spent` being its spend this budget period."""
    limit = key.budget_usd
    data = {
        "label": key.name,
        "prefix": key.prefix,
        "usage": float(spent),
        "limit": float(limit) if limit is not None else None,
        "limit_remaining": float(max(limit - spent, Decimal(0))) if limit is not None else None,
        "limit_reset": None if key.budget_period == "none" else key.budget_period,
        "is_free_tier": False,
        "expires_at": _iso(key.expires_at),
        "rate_limit": {"requests": key.rpm_limit, "tokens": key.tpm_limit, "interval": "1m"},
        "allowed_models": list(key.allowed_models) or None,
    }
    return orjson.dumps({"data": data})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
