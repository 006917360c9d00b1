"""Routing's shared data: alias specs (loaded by usage.selectors.aliases, planned by the gateway) and the
prefix rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class AliasMemberSpec:
    model: str
    weight: int
    max_price_per_million: Decimal | None


@dataclass(frozen=True, slots=True)
class AliasSpec:
    name: str  # "" for a request whose model is a list
    strategy: str  # ordered | cheapest | fastest | weighted
    members: tuple[AliasMemberSpec, ...]


# The inference endpoints (under /api/v1/) an upstream may serve: OpenRouter serves them all; another
# upstream serves DEFAULT_ENDPOINTS unless its admin row lists its own (Upstream.endpoints).
ALL_ENDPOINTS = ("chat/completions", "completions", "messages", "responses", "embeddings")
DEFAULT_ENDPOINTS = ("chat/completions", "completions")


def upstream_endpoints(listed: str, *, openrouter: bool) -> frozenset[str]:
    """The endpoints an upstream serves: those listed (comma- or space-separated), else its defaults."""
    names = frozenset(listed.replace(",", " ").split())
    if names:
        return names
    return frozenset(ALL_ENDPOINTS if openrouter else DEFAULT_ENDPOINTS)


class Prefixed(Protocol):
    model_prefix: str


P = TypeVar("P", bound=Prefixed)


def longest_prefix(model_id: str, candidates: Iterable[P]) -> P | None:
    """The candidate (an upstream or a route) with the longest `model_prefix` that model_id starts with.

    The empty prefix (the default upstream) matches every id, so it wins only when nothing longer does.
    """
    best = None
    for candidate in candidates:
        prefix = candidate.model_prefix
        if model_id.startswith(prefix) and (best is None or len(prefix) > len(best.model_prefix)):
            best = candidate
    return best
