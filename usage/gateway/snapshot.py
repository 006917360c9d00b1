"""What the gateway holds in memory between refreshes: the catalogue's ids and open prices, the enabled
upstreams as routes, the aliases and the latency figures the "fastest" strategy needs. Loaded by store.py,
read by the routing plan; plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from catalog.model_ids import ROUTER_ID, base_model_id
from catalog.price_schedule import PriceSchedule
from usage.gateway.worst_case import ModelLimits
from usage.routing import ALL_ENDPOINTS, AliasSpec, longest_prefix

Prices = dict[str, Decimal | None]


@dataclass(frozen=True, slots=True)
class Price:
    catalog_model_id: int
    price_version_id: int | None
    valid_from: datetime | None
    schedule: PriceSchedule | None  # base prices and overrides (catalog.price_schedule)
    context_length: int | None = None
    max_completion_tokens: int | None = None

    def at(self, prompt_tokens: int, moment: datetime) -> Prices | None:
        """The effective prices for a request of this prompt size at this moment."""
        return None if self.schedule is None else self.schedule.at(prompt_tokens, moment)


class Catalogue:
    """Current model ids, every model's open price version, and the other names of current models."""

    __slots__ = ("ids", "prices", "native")

    def __init__(
        self,
        ids: frozenset[str] = frozenset(),
        prices: dict[str, Price] | None = None,
        native: dict[str, str | None] | None = None,
    ) -> None:
        self.ids = ids  # current (not retired) model ids
        self.prices = prices or {}  # every model id ever seen -> its open price version
        # A provider's own model id (from canonical_slug or hugging_face_id) -> our id; None: several models.
        self.native = native or {}

    def knows(self, model_id: str) -> bool:
        """A current id, a current id with a variant suffix (":nitro", ":floor"...), or the router. An empty
        catalogue (not loaded yet) knows everything: OpenRouter answers for what it does not know."""
        if not self.ids or model_id in self.ids or model_id == ROUTER_ID:
            return True
        base = base_model_id(model_id)
        return base != model_id and not model_id.endswith(":") and base in self.ids

    def price_for(self, model_id: str) -> Price | None:
        price = self.prices.get(model_id)
        if price is None:
            price = self.prices.get(base_model_id(model_id))
        return price

    def prices_at(self, model_id: str, prompt_tokens: int, moment: datetime) -> Prices | None:
        price = self.price_for(model_id)
        return None if price is None else price.at(prompt_tokens, moment)

    def limits_of(self, model_id: str) -> ModelLimits:
        price = self.price_for(model_id)
        if price is None:
            return ModelLimits()
        return ModelLimits(price.context_length, price.max_completion_tokens)

    def dearest_at(self, prompt_tokens: int, moment: datetime) -> Prices | None:
        """Each price category's highest effective value over the current models: what a request to a
        router with a variable price (openrouter/auto) may cost at most."""
        dearest: Prices = {}
        for model_id in self.ids:
            prices = self.prices_at(model_id, prompt_tokens, moment)
            for name, value in (prices or {}).items():
                if value is not None and value > (dearest.get(name) or 0):
                    dearest[name] = value
        return dearest if "prompt" in dearest and "completion" in dearest else None


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
    endpoints: frozenset[str] = frozenset(ALL_ENDPOINTS)  # the endpoints it serves (usage.routing)

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
    routes: tuple[Route, ...] = ()
    aliases: dict[str, AliasSpec] = field(default_factory=dict)
    latency_p50: dict[str, int] = field(default_factory=dict)  # served model -> p50 ms over the last hour

    def route_for(self, model_id: str) -> Route | None:
        return longest_prefix(model_id, self.routes)


@dataclass(frozen=True, slots=True)
class Snapshot:
    catalogue: Catalogue = field(default_factory=Catalogue)
    routing: Routing = field(default_factory=Routing)
