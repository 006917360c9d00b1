"""What the gateway keeps in memory: keys (short expiry) and the catalogue's ids and current prices."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    revoked_at: datetime | None
    expires_at: datetime | None
    budget_usd: Decimal | None
    budget_period: str
    rpm_limit: int | None
    tpm_limit: int | None
    allowed_models: tuple[str, ...]
    limited: bool  # any of budget / rpm / tpm
    cache_responses: bool = False  # the response cache is on for this key (a request header can override)

    def allows(self, model_id: str) -> bool:
        if not self.allowed_models:
            return True
        base = model_id.split(":", 1)[0]
        for pattern in self.allowed_models:
            if pattern in (model_id, base):
                return True
            if pattern.endswith("/*") and base.startswith(pattern[:-1]):
                return True
        return False


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def load_key(digest: str) -> KeyInfo | None:
    """The key with this secret hash (sync: runs in the gateway's database thread)."""
    from usage.models import ApiKey

    key = ApiKey.objects.filter(secret_hash=digest).first()
    if key is None:
        return None
    allowed = tuple(str(m) for m in key.allowed_models) if isinstance(key.allowed_models, list) else ()
    return KeyInfo(
        id=key.pk,
        name=key.name,
        prefix=key.prefix,
        revoked_at=key.revoked_at,
        expires_at=key.expires_at,
        budget_usd=key.budget_usd,
        budget_period=key.budget_period,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        allowed_models=allowed,
        limited=key.budget_usd is not None or bool(key.rpm_limit) or bool(key.tpm_limit),
        cache_responses=key.cache_responses,
    )


@dataclass(frozen=True, slots=True)
class Price:
    catalog_model_id: int
    price_version_id: int | None
    valid_from: datetime | None
    prices: dict[str, Decimal | None] | None


class Catalogue:
    """Current model ids and their open price versions, reloaded every GATEWAY_CATALOG_REFRESH_SECONDS."""

    def __init__(self, ids: frozenset[str] = frozenset(), prices: dict[str, Price] | None = None) -> None:
        self.ids = ids  # current (not retired) model ids
        self.prices = prices or {}  # every model id ever seen -> its open price version

    @classmethod
    def load(cls) -> Catalogue:
        from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion

        ids = frozenset(
            CatalogModel.objects.filter(retired_at__isnull=True).values_list("model_id", flat=True)
        )
        prices: dict[str, Price] = {}
        for model_pk, model_id in CatalogModel.objects.values_list("pk", "model_id"):
            prices[model_id] = Price(model_pk, None, None, None)
        versions = PriceVersion.objects.filter(valid_to__isnull=True).values(
            "id", "valid_from", "catalog_model__model_id", "catalog_model_id", *PRICE_FIELDS
        )
        for row in versions:
            prices[row["catalog_model__model_id"]] = Price(
                row["catalog_model_id"],
                row["id"],
                row["valid_from"],
                {name: row[name] for name in PRICE_FIELDS},
            )
        return cls(ids, prices)

    def knows(self, model_id: str) -> bool:
        """A current id, or one with a routing suffix (":nitro", ":floor", ":online"...), or the router."""
        if not self.ids or model_id in self.ids or model_id == "openrouter/auto":
            return True
        base, _, suffix = model_id.partition(":")
        return bool(suffix) and base in self.ids

    def price_for(self, model_id: str) -> Price | None:
        price = self.prices.get(model_id)
        if price is None and ":" in model_id:
            price = self.prices.get(model_id.split(":", 1)[0])
        return price


def price_version_at(catalog_model_id: int, at: datetime) -> tuple[int | None, dict | None]:
    """The price version valid at `at` (sync; for rows older than the open version in memory)."""
    from catalog.models import PriceVersion

    version = (
        PriceVersion.objects.filter(catalog_model_id=catalog_model_id, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by("-valid_from")
        .first()
    )
    if version is None:
        return None, None
    return version.pk, version.prices()


@dataclass(frozen=True, slots=True)
class Route:
    """An enabled upstream as the gateway uses it (usage.models.Upstream; docs/routing.md)."""

    name: str
    url: str  # base URL, no trailing slash
    model_prefix: str  # model ids starting with it go here ("" for the default upstream)
    key_env: str  # the environment variable naming the key ("" for a keyless server)
    key: str  # its value, "" if unset: never logged or shown
    openrouter: bool  # OpenRouter's API: `models` fallback arrays, attribution headers, unprefixed ids
    strip_prefix: bool = True  # another upstream's model ids lose our routing prefix

    @property
    def missing_key(self) -> bool:
        """A key variable is named but not set (OpenRouter without a key is forwarded: its 401 explains)."""
        return bool(self.key_env) and not self.key and not self.openrouter

    @property
    def label(self) -> str:
        """How errors name it: never with its key."""
        return "OpenRouter" if self.openrouter else f"Upstream '{self.name}'"

    def upstream_model(self, model_id: str) -> str:
        """The model id the upstream knows: ours without the routing prefix (OpenRouter's ids are its own)."""
        if self.strip_prefix and not self.openrouter:
            return model_id.removeprefix(self.model_prefix)
        return model_id


@dataclass(frozen=True, slots=True)
class Routing:
    """Upstreams and aliases, reloaded with the catalogue."""

    routes: tuple[Route, ...] = ()
    aliases: dict = field(default_factory=dict)  # name -> usage.aliases.AliasSpec
    # served model -> p50 latency (ms) over the last hour, when an alias needs it
    latency_p50: dict = field(default_factory=dict)

    def route_for(self, model_id: str) -> Route | None:
        return longest_prefix(model_id, self.routes)

    @classmethod
    def load(cls) -> Routing:
        from datetime import timedelta

        from django.conf import settings
        from django.utils import timezone

        from usage.aliases import aliases_load
        from usage.models import Upstream
        from usage.selectors import model_latency_p50
        from usage.upstreams import upstream_api_key, upstream_base_url

        upstreams = list(Upstream.objects.all())
        routes = [
            Route(
                name=upstream.name,
                url=upstream_base_url(upstream),
                model_prefix=upstream.model_prefix,
                key_env=upstream.api_key_env,
                key=upstream_api_key(upstream),
                openrouter=upstream.name == Upstream.DEFAULT_NAME,
                strip_prefix=upstream.strip_prefix,
            )
            for upstream in upstreams
            if upstream.enabled
        ]
        if not any(upstream.name == Upstream.DEFAULT_NAME for upstream in upstreams):
            # No default row (a database set up without migrations' data): OpenRouter from the settings.
            url = settings.OPENROUTER_BASE_URL.rstrip("/")
            key = settings.OPENROUTER_API_KEY or ""
            routes.append(Route(Upstream.DEFAULT_NAME, url, "", "", key, True))
        aliases = aliases_load()
        latency = {}
        if any(alias.strategy == "fastest" for alias in aliases.values()):
            latency = model_latency_p50(since=timezone.now() - timedelta(hours=1))
        return cls(tuple(routes), aliases, latency)


def longest_prefix(model_id: str, candidates: Iterable):
    """The candidate (an upstream or a route: `model_prefix`) with the longest prefix model_id starts with."""
    best = None
    for candidate in candidates:
        prefix = candidate.model_prefix
        if model_id.startswith(prefix) and (best is None or len(prefix) > len(best.model_prefix)):
            best = candidate
    return best
