"""Writes for aliases: validation (the admin's forms: no loops, members that exist, no clash with a
catalogue id or an upstream prefix) and member numbering. See docs/gateway.md; loading is in
usage.selectors.aliases, the choice among members per request in usage.gateway.strategies."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.model_ids import ROUTER_ID, base_model_id
from catalog.models import CatalogModel
from usage.models import Alias, AliasMember, Upstream
from usage.services.freshness import gateway_changes_publish


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
        gateway_changes_publish()  # a bulk update sends no signals
