"""Aliases: validation (the admin's forms), loading for the gateway, member numbering. See docs/gateway.md.

The selection among an alias's members for a request is in usage.gateway.routing (pure).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.model_ids import base_model_id
from catalog.models import CatalogModel
from usage.models import Alias, AliasMember, Upstream
from usage.routing import AliasMemberSpec, AliasSpec

ROUTER_ID = "openrouter/auto"  # OpenRouter's router: always a valid member, as for the gateway


def _find_loop(start: str, graph: dict[str, list[str]]) -> list[str] | None:
    """The first path start → ... → start through the graph (depth first, in member order), if any."""
    path = [start]
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        for nxt in graph.get(node, []):
            if nxt == start:
                return [*path, start]
            if nxt in done or nxt in path or nxt not in graph:
                continue
            path.append(nxt)
            found = visit(nxt)
            if found:
                return found
            path.pop()
            done.add(nxt)
        return None

    return visit(start)


def alias_validate(*, name: str, members: list[str], alias_id: int | None = None) -> None:
    """Raise ValidationError (every problem, one message each) for an alias named `name` with these members.

    The name must not be a current catalogue id nor start with the prefix of an enabled non-default upstream;
    each member must be a current catalogue id (a ":suffix" allowed), another alias's name, or an id starting
    with an enabled upstream's prefix; no loop through nested aliases (the saved members of the others).
    """
    errors: list[str] = []
    bases = {base_model_id(member) for member in members}
    current = set(
        CatalogModel.objects.filter(
            retired_at__isnull=True, model_id__in={name, *members, *bases}
        ).values_list("model_id", flat=True)
    )
    upstreams = list(
        Upstream.objects.filter(enabled=True).exclude(model_prefix="").values_list("name", "model_prefix")
    )
    if name in current:
        errors.append(f"{name} is a model id in the catalogue: choose another alias name.")
    for upstream_name, prefix in upstreams:
        if upstream_name != Upstream.DEFAULT_NAME and name.startswith(prefix):
            errors.append(
                f"{name} starts with {prefix}, the prefix of upstream '{upstream_name}': "
                "choose another alias name."
            )
    if not members:
        errors.append("An alias needs at least one model.")

    others = Alias.objects.exclude(pk=alias_id) if alias_id is not None else Alias.objects.all()
    other_names = set(others.values_list("name", flat=True))
    for member in members:
        known = (
            member in current
            or member in (ROUTER_ID, name)
            or (":" in member and base_model_id(member) in current)
            or member in other_names
            or any(member.startswith(prefix) for _, prefix in upstreams)
        )
        if not known:
            errors.append(f"{member} is neither a model in the catalogue nor an alias.")

    graph: dict[str, list[str]] = {other: [] for other in other_names}
    rows = AliasMember.objects.filter(alias__in=others).order_by("alias_id", "position", "id")
    for alias_name, model in rows.values_list("alias__name", "model"):
        if model in other_names or model == name:
            graph[alias_name].append(model)
    graph[name] = [member for member in members if member in other_names or member == name]
    loop = _find_loop(name, graph)
    if loop:
        errors.append(f"Alias loop: {' → '.join(loop)}.")
    if errors:
        raise ValidationError(errors)


def _stricter(outer: Decimal | None, inner: Decimal | None) -> Decimal | None:
    if outer is None:
        return inner
    if inner is None:
        return outer
    return min(outer, inner)


def aliases_load() -> dict[str, AliasSpec]:
    """Enabled aliases by name, nested aliases flattened in place (sync ORM; two queries).

    A member naming another enabled alias is replaced by that alias's members (the outer member's ceiling
    applies where stricter, the inner weights stay); one naming a disabled alias is dropped; a model listed
    twice keeps its first place; a loop (validation prevents them) is cut.
    """
    aliases = {row["name"]: row for row in Alias.objects.values("id", "name", "strategy", "enabled")}
    names_by_id = {row["id"]: name for name, row in aliases.items()}
    members: dict[str, list[dict]] = {name: [] for name in aliases}
    rows = AliasMember.objects.order_by("alias_id", "position", "id").values(
        "alias_id", "model", "weight", "max_price_per_million"
    )
    for row in rows:
        members[names_by_id[row["alias_id"]]].append(row)

    def flatten(name: str, stack: tuple[str, ...]) -> list[AliasMemberSpec]:
        specs: list[AliasMemberSpec] = []
        for row in members[name]:
            model, ceiling = row["model"], row["max_price_per_million"]
            nested = aliases.get(model)
            if nested is None:
                specs.append(AliasMemberSpec(model, row["weight"], ceiling))
            elif nested["enabled"] and model not in stack:
                for spec in flatten(model, (*stack, model)):
                    specs.append(
                        AliasMemberSpec(
                            model=spec.model,
                            weight=spec.weight,
                            max_price_per_million=_stricter(ceiling, spec.max_price_per_million),
                        )
                    )
        return specs

    loaded: dict[str, AliasSpec] = {}
    for name, row in aliases.items():
        if not row["enabled"]:
            continue
        unique: dict[str, AliasMemberSpec] = {}
        for spec in flatten(name, (name,)):
            unique.setdefault(spec.model, spec)
        loaded[name] = AliasSpec(name=name, strategy=row["strategy"], members=tuple(unique.values()))
    return loaded


def alias_members_number(*, alias_id: int, models: list[str]) -> None:
    """Set position = index (in this order) on the alias's members when all their positions are 0."""
    with transaction.atomic():
        rows = {member.model: member for member in AliasMember.objects.filter(alias_id=alias_id)}
        if any(member.position for member in rows.values()):
            return
        ordered = [rows[model] for model in models if model in rows]
        for index, member in enumerate(ordered):
            member.position = index
        AliasMember.objects.bulk_update(ordered, ["position"])
