"""What a ledger row is about: the model that served it, else the one asked for (a refused request was
served none). One rule, as an expression (rollups, aggregates) and as a filter (one model's rows)."""

from __future__ import annotations

from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, NullIf

# The rollup's model column: the served model, else the requested one (rejected requests were served none).
MODEL_NAME = Coalesce(NullIf(F("served_model"), Value("")), F("requested_model"))


def model_is(model_id: str) -> Q:
    """The rows about `model_id`: served by it, or asked for it and served by none."""
    return Q(served_model=model_id) | Q(served_model="", requested_model=model_id)


def ledger_is_empty() -> bool:
    """No gateway request recorded yet (`serve --demo` fills such a ledger)."""
    from usage.models import LedgerEntry

    return not LedgerEntry.objects.exists()
