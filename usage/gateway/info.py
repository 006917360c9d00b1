"""The gateway's GET endpoints: /api/v1/models (what a key may use, aliases included) and /api/v1/key
(the key itself: its spend this period, limits, expiry), in OpenRouter's shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import orjson

from usage.gateway.auth import KeyInfo
from usage.gateway.snapshot import Routing


def models_body(key: KeyInfo, listing: list[tuple[str, dict]], routing: Routing) -> bytes:
    """The current models this key may use (`listing`: (id, Models API object)), then the aliases it may."""
    data = [raw for model_id, raw in listing if key.allows(model_id)]
    for name, alias in sorted(routing.aliases.items()):
        members = [member.model for member in alias.members]
        if key.allows(name) or any(key.allows(model_id) for model_id in members):
            data.append(
                {
                    "id": name,
                    "name": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "tokenledger",
                    "description": f"Alias ({alias.strategy}) for {', '.join(members)}",
                    "tokenledger_alias": {"strategy": alias.strategy, "members": members},
                }
            )
    return orjson.dumps({"data": data})


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
