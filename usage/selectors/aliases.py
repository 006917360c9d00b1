"""Aliases as the gateway uses them: enabled ones by name, nested aliases flattened (docs/gateway.md)."""

from __future__ import annotations

from decimal import Decimal

from usage.models import Alias, AliasMember
from usage.routing import AliasMemberSpec, AliasSpec


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
