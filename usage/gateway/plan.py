"""The routing plan of a request: which upstream(s) it goes to, with which body (pure: no I/O). See
docs/gateway.md, Routing.

A model id goes to the enabled upstream with the longest prefix it starts with. To OpenRouter the body goes
as received; to another upstream only the bytes of the `model` value change (the routing prefix stripped).
An alias, or `model` given as a list, is ordered by its strategy (strategies.py): consecutive members bound
for OpenRouter go as one attempt carrying OpenRouter's `models` array, each other member as its own.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from usage.gateway.auth import KeyInfo
from usage.gateway.request import CompletionRequest
from usage.gateway.responses import GatewayError
from usage.gateway.snapshot import Route, Snapshot
from usage.gateway.strategies import order_members
from usage.routing import AliasMemberSpec, AliasSpec


@dataclass(slots=True)
class Attempt:
    """One request to one upstream: a model (and for OpenRouter, its `models` fallbacks)."""

    route: Route
    model: str  # our id of the (first) model
    body: bytes
    models: tuple[str, ...] = ()  # the ids sent as OpenRouter's `models` array


@dataclass(slots=True)
class Plan:
    attempts: list[Attempt]
    meta: dict[str, Any] = field(default_factory=dict)  # the ledger row's routing details (may be empty)


def list_alias(models: list[str]) -> AliasSpec:
    """An anonymous ordered alias for a request whose "model" is a list (Fusion style); repeats dropped."""
    seen: dict[str, AliasMemberSpec] = {}
    for model in models:
        seen.setdefault(model, AliasMemberSpec(model=model, weight=1, max_price_per_million=None))
    return AliasSpec(name="", strategy="ordered", members=tuple(seen.values()))


def plan_request(
    request: CompletionRequest,
    key: KeyInfo,
    snapshot: Snapshot,
    *,
    max_attempts: int,
    rng: random.Random,
    now: datetime | None = None,
) -> Plan:
    """The attempts for this request, in order; GatewayError when it cannot go anywhere. Prices (for the
    cheapest strategy and price ceilings) are those in effect at `now` (default: the current time)."""
    now = now or datetime.now(UTC)
    model, routing = request.model, snapshot.routing
    if isinstance(model, str) and model in routing.aliases:
        return _alias_plan(request, key, snapshot, routing.aliases[model], max_attempts, rng, now)
    if isinstance(model, list):
        _check_models(model, key, snapshot)
        return _alias_plan(request, key, snapshot, list_alias(model), max_attempts, rng, now)
    wanted = [model] if isinstance(model, str) else []
    wanted.extend(request.models)
    _check_models(wanted, key, snapshot)
    route = routing.route_for(wanted[0])
    if route is None:
        raise GatewayError(502, f"No enabled upstream serves {wanted[0]}", "no_upstream")
    if request.endpoint not in route.endpoints:
        raise _not_served(request.endpoint, [route], {"upstream": route.name})
    if route.openrouter:
        return Plan([Attempt(route, wanted[0], request.raw)])
    sent = route.upstream_model(wanted[0])
    body = request.raw if sent == wanted[0] else with_model(request.raw, request.body, sent)
    return Plan([Attempt(route, wanted[0], body)], {"upstream": route.name})


def native_model(request: CompletionRequest, snapshot: Snapshot, meta: dict) -> bool:
    """A provider's own model id (Claude Code's `claude-...`) naming one current catalogue model, by its
    canonical_slug or hugging_face_id: the request goes on under the catalogue's id (`meta.native_model`
    keeps the id sent); 400 naming the id when it names no model, or several."""
    model, catalogue = request.model, snapshot.catalogue
    if not isinstance(model, str) or "/" in model or model in snapshot.routing.aliases or not catalogue.ids:
        return False
    route = snapshot.routing.route_for(model)
    if model in catalogue.ids or route is None or not route.openrouter:
        return False  # a catalogue id, or another upstream's own (their ids are not checked)
    found = catalogue.native.get(model, "")
    if found is None:
        raise GatewayError(
            400, f"{model[:200]} names more than one model in the catalogue", "ambiguous_model"
        )
    if not found:
        raise GatewayError(400, f"{model[:200]} is not a model in the catalogue", "unknown_model")
    request.raw = with_model(request.raw, request.body, found)
    request.body = {**request.body, "model": found}
    request.model = found
    meta["native_model"] = model
    return True


def _check_models(wanted: list[str], key: KeyInfo, snapshot: Snapshot) -> None:
    for model_id in wanted:
        route = snapshot.routing.route_for(model_id)
        known = route is not None and not route.openrouter  # another upstream's ids are its own
        if len(model_id) > 200 or not (known or snapshot.catalogue.knows(model_id)):
            raise GatewayError(400, f"{model_id[:200]} is not a model in the catalogue", "unknown_model")
        if not key.allows(model_id):
            raise GatewayError(403, f"This key may not use {model_id}", "model_not_allowed")


def _alias_plan(
    request: CompletionRequest,
    key: KeyInfo,
    snapshot: Snapshot,
    spec: AliasSpec,
    max_attempts: int,
    rng: random.Random,
    now: datetime,
) -> Plan:
    catalogue, routing = snapshot.catalogue, snapshot.routing
    whole = not spec.name or key.allows(spec.name)  # a key allowed the alias may use all its members
    members, skipped, routes, lacking = [], [], {}, []
    for member in spec.members:
        route = routes[member.model] = routing.route_for(member.model)
        if not (whole or key.allows(member.model)):
            skipped.append({"model": member.model, "reason": "not allowed for this key"})
        elif route is None:
            skipped.append({"model": member.model, "reason": "no enabled upstream"})
        elif route.openrouter and not catalogue.knows(member.model):
            skipped.append({"model": member.model, "reason": "not in the catalogue"})
        elif request.endpoint not in route.endpoints:
            lacking.append(route)
            skipped.append(
                {"model": member.model, "reason": f"{route.label} does not serve /{request.endpoint}"}
            )
        else:
            members.append(member)
    if not members and skipped and all(s["reason"] == "not allowed for this key" for s in skipped):
        raise GatewayError(403, f"This key may not use {spec.name}", "model_not_allowed")
    if not members and lacking:
        meta = {"alias": spec.name or None, "strategy": spec.strategy, "skipped": skipped}
        raise _not_served(request.endpoint, lacking, meta)
    chosen = order_members(
        replace(spec, members=tuple(members)),
        body=request.body,
        endpoint=request.endpoint,
        price_for=lambda model, prompt_tokens: catalogue.prices_at(model, prompt_tokens, now),
        latency_p50=routing.latency_p50,
        rng=rng,
    )
    skipped.extend(chosen.skipped)
    meta: dict[str, Any] = {"alias": spec.name or None, "strategy": chosen.strategy}
    if skipped:
        meta["skipped"] = skipped
    if not chosen.models:
        reasons = "; ".join(f"{s['model']}: {s['reason']}" for s in skipped)
        message = f"No model of {spec.name or 'the list'} can serve this request ({reasons})"
        raise GatewayError(400, message, "no_eligible_model", meta=meta)
    attempts: list[Attempt] = []
    for model_id in chosen.models:  # consecutive OpenRouter models: one attempt with a `models` array
        route = routes[model_id]
        if route.openrouter and attempts and attempts[-1].route is route:
            attempts[-1].models += (model_id,)
        else:
            attempts.append(Attempt(route, model_id, b"", (model_id,) if route.openrouter else ()))
    del attempts[max_attempts:]
    for attempt in attempts:  # bodies only for the attempts kept
        outgoing = {**request.body, "model": attempt.route.upstream_model(attempt.model)}
        outgoing.pop("models", None)
        if len(attempt.models) > 1:
            outgoing["models"] = list(attempt.models)
        attempt.body = orjson.dumps(outgoing)
    return Plan(attempts, meta)


def _not_served(endpoint: str, routes: list[Route], meta: dict) -> GatewayError:
    """502: no upstream the request could go to serves its endpoint; the message names them."""
    names = ", ".join(dict.fromkeys(route.label for route in routes))
    return GatewayError(502, f"{names} cannot serve /{endpoint}", "endpoint_not_served", meta=meta)


_MODEL_VALUE = rb'("model"\s*:\s*)'


def with_model(raw: bytes, body: dict, model: str) -> bytes:
    """`raw` with its "model" value replaced, every other byte unchanged (re-encoded only if it must be)."""
    if not isinstance(body.get("model"), str):  # only `models` was sent
        return orjson.dumps({**body, "model": model})
    pattern = re.compile(_MODEL_VALUE + re.escape(orjson.dumps(body["model"])))
    replaced, count = pattern.subn(lambda match: match.group(1) + orjson.dumps(model), raw, count=1)
    wanted = {**body, "model": model}
    if count and orjson.loads(replaced) == wanted:
        return replaced
    return orjson.dumps(wanted)
