"""Reads for the catalogue pages (/models/, a model's page, /compare/, /catalog/changes/).

Every function runs a constant number of queries whatever the number of models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from catalog.models import PRICE_FIELDS, CatalogModel, PriceVersion, ProviderEndpoint, SyncRun
from catalog.price_schedule import PriceSchedule
from catalog.pricing import is_free, is_variable, per_million

# Columns the /models/ table sorts by: key -> how to read the value from a CatalogueRow.
SORT_KEYS = (
    "name",
    "id",
    "author",
    "context",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "request",
    "image",
    "created",
    "modalities",
    "capabilities",
)
DEFAULT_SORT = "-created"
CAPABILITIES = (
    ("tools", "tools", ("tools",)),
    ("structured", "structured outputs", ("structured_outputs", "response_format")),
    ("reasoning", "reasoning", ("reasoning", "include_reasoning")),
)


@dataclass
class CatalogueRow:
    model: CatalogModel | TableModel
    prices: dict[str, Decimal | None]  # USD per token / request / image, None = variable
    free: bool
    variable: bool
    capabilities: list[str]
    search_text: str = field(repr=False, default="")
    # The base prices and their overrides (catalog.price_schedule): the one way to the effective prices.
    schedule: PriceSchedule = field(repr=False, default_factory=lambda: PriceSchedule({}))

    @property
    def tiered(self) -> bool:
        """Some prices change above a prompt size (OpenRouter's min_prompt_tokens)."""
        return self.schedule.tiered

    @property
    def timed(self) -> bool:
        """Some prices change by UTC time of day (OpenRouter's utc_start / utc_end)."""
        return self.schedule.timed

    def sort_value(self, key: str):
        m = self.model
        if key == "name":
            return (m.name or m.model_id).lower()
        if key == "id":
            return m.model_id
        if key == "author":
            return m.author.lower()
        if key == "context":
            return m.context_length
        if key == "created":
            return m.created
        if key == "modalities":
            inputs, outputs = sorted(m.input_modalities or []), sorted(m.output_modalities or [])
            return f"{'+'.join(inputs)}->{'+'.join(outputs)}"
        if key == "capabilities":
            return len(self.capabilities)
        price_field = {
            "input": "prompt",
            "output": "completion",
            "cache_read": "input_cache_read",
            "cache_write": "input_cache_write",
            "request": "request",
            "image": "image",
        }[key]
        price = self.prices.get(price_field)
        if price == 0 and price_field not in ("prompt", "completion"):
            return None  # a category the model does not price sorts with the unknowns, last
        return price


@dataclass(frozen=True)
class CatalogueFilters:
    """What /models/ filters on. Prices are USD per 1M tokens."""

    q: str = ""
    author: str = ""
    input_modality: str = ""
    output_modality: str = ""
    parameter: str = ""
    max_input: Decimal | None = None
    max_output: Decimal | None = None
    min_context: int | None = None
    free: bool = False
    include_retired: bool = False
    sort: str = DEFAULT_SORT


@dataclass
class Catalogue:
    rows: list[CatalogueRow]  # the matches, sorted
    total: int  # models considered before the filters (current ones, retired too when included)
    authors: list[str]
    input_modalities: list[str]
    output_modalities: list[str]
    parameters: list[str]


def _storable(model_id: str) -> bool:
    """An id that could be in the catalogue: PostgreSQL refuses NUL bytes in a query, so never send one."""
    return "\x00" not in model_id


def _latest_price_version_id():
    return Subquery(
        PriceVersion.objects.filter(catalog_model=OuterRef("pk")).order_by("-valid_from").values("pk")[:1]
    )


# What the /models/ table needs; the compare page loads every column.
TABLE_MODEL_FIELDS = (
    "model_id",
    "name",
    "author",
    "description",
    "context_length",
    "input_modalities",
    "output_modalities",
    "supported_parameters",
    "created",
    "retired_at",
)
TABLE_PRICE_FIELDS = ("prompt", "completion", "input_cache_read", "input_cache_write", "request", "image")


class TableModel(NamedTuple):
    """The columns of a CatalogModel the /models/ table reads (no model instances on the hot path)."""

    model_id: str
    name: str
    author: str
    description: str
    context_length: int | None
    input_modalities: list
    output_modalities: list
    supported_parameters: list
    created: datetime | None
    retired_at: datetime | None
    latest_price_version_id: int | None


def _rows(
    models: list[CatalogModel] | list[TableModel], prices_by_version: dict[int, dict]
) -> list[CatalogueRow]:
    rows = []
    for m in models:
        found = prices_by_version.get(m.latest_price_version_id)
        overrides = found.pop("overrides", ()) if found is not None else ()
        prices = found if found is not None else {"prompt": None, "completion": None}  # none: variable
        params = set(m.supported_parameters or [])
        rows.append(
            CatalogueRow(
                model=m,
                prices=prices,
                free=found is not None and is_free(prices),
                variable=found is None or is_variable(prices),
                capabilities=[label for _, label, names in CAPABILITIES if params.intersection(names)],
                search_text=f"{m.model_id}\n{m.name}\n{m.description}".lower(),
                schedule=PriceSchedule.of(prices, overrides),
            )
        )
    return rows


def catalogue_models(
    *, include_retired: bool = False, model_ids: list[str] | None = None, table: bool = False
) -> list[CatalogueRow]:
    """Current (or all) models with their latest prices: two queries.

    table=True loads only what the /models/ table shows (it is the hot path: all models on every view).
    """
    models_qs = CatalogModel.objects.annotate(latest_price_version_id=_latest_price_version_id())
    if not include_retired:
        models_qs = models_qs.filter(retired_at__isnull=True)
    if model_ids is not None:
        models_qs = models_qs.filter(model_id__in=[i for i in model_ids if _storable(i)])
    if table:
        values = models_qs.values_list(*TABLE_MODEL_FIELDS, "latest_price_version_id")
        models = [TableModel._make(v) for v in values]
    else:
        models = list(models_qs.defer("raw"))
    version_ids = [m.latest_price_version_id for m in models if m.latest_price_version_id]
    fields = (*(TABLE_PRICE_FIELDS if table else PRICE_FIELDS), "overrides")
    prices = {}
    if version_ids:
        for pk, *values in PriceVersion.objects.filter(pk__in=version_ids).values_list("pk", *fields):
            prices[pk] = dict(zip(fields, values, strict=True))
    return _rows(models, prices)


def _matches(row: CatalogueRow, f: CatalogueFilters) -> bool:
    m = row.model
    if f.q and not all(term in row.search_text for term in f.q.lower().split()):
        return False
    if f.author and m.author.lower() != f.author.lower():
        return False
    if f.input_modality and f.input_modality not in (m.input_modalities or []):
        return False
    if f.output_modality and f.output_modality not in (m.output_modalities or []):
        return False
    if f.parameter and f.parameter not in (m.supported_parameters or []):
        return False
    for limit, price_field in ((f.max_input, "prompt"), (f.max_output, "completion")):
        if limit is not None:
            price = per_million(row.prices.get(price_field))
            if price is None or price > limit:  # a variable price is never known to be under a limit
                return False
    if f.min_context is not None and (m.context_length or 0) < f.min_context:
        return False
    return not (f.free and not row.free)


def _relevance(row: CatalogueRow, q: str) -> int:
    """How well a search matches (lower first): the id or name itself, then an id or name that starts with
    it, then one that holds every word, then the description alone ("claude": Anthropic's models first)."""
    q = " ".join(q.lower().split())
    model_id = row.model.model_id.lower()
    slug = model_id.partition("/")[2]
    name = (row.model.name or "").lower()
    short_name = name.partition(": ")[2] or name  # "OpenAI: GPT-4o" -> "gpt-4o"
    if q in (model_id, slug, name, short_name):
        return 0
    if any(text.startswith(q) for text in (model_id, slug, name, short_name)):
        return 1
    if all(term in f"{model_id}\n{name}" for term in q.split()):
        return 2
    return 3


def sort_rows(rows: list[CatalogueRow], sort: str) -> list[CatalogueRow]:
    """Sort by a SORT_KEYS key ("-key" descending); unknown values (variable, missing) always go last."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    known = [r for r in rows if r.sort_value(key) is not None]
    unknown = [r for r in rows if r.sort_value(key) is None]
    known.sort(key=lambda r: r.model.model_id)  # stable tie-break by id
    known.sort(key=lambda r: r.sort_value(key), reverse=descending)
    unknown.sort(key=lambda r: r.model.model_id)
    return known + unknown


def models_for_catalogue(*, filters: CatalogueFilters) -> Catalogue:
    """The /models/ table: matches of the filters, sorted, and the choices the filter form offers."""
    rows = catalogue_models(include_retired=filters.include_retired, table=True)
    authors, inputs, outputs, params = set(), set(), set(), set()
    for row in rows:
        authors.add(row.model.author)
        inputs.update(row.model.input_modalities or [])
        outputs.update(row.model.output_modalities or [])
        params.update(row.model.supported_parameters or [])
    matches = sort_rows([row for row in rows if _matches(row, filters)], filters.sort)
    if filters.q and filters.sort == DEFAULT_SORT:
        matches.sort(key=lambda row: _relevance(row, filters.q))  # stable: newest first within a rank
    return Catalogue(
        rows=matches,
        total=len(rows),
        authors=sorted(authors, key=str.lower),
        input_modalities=sorted(inputs),
        output_modalities=sorted(outputs),
        parameters=sorted(params),
    )


def catalog_model_detail(*, model_id: str) -> tuple[CatalogModel, list[PriceVersion]] | None:
    """One model (retired ones too) and all its price versions, oldest first: two queries."""
    if not _storable(model_id):
        return None
    model = CatalogModel.objects.filter(model_id=model_id).first()
    if model is None:
        return None
    return model, list(model.price_versions.order_by("valid_from"))


def catalog_changes() -> QuerySet[SyncRun]:
    """Finished sync runs that changed something, newest first."""
    return (
        SyncRun.objects.filter(status=SyncRun.Status.OK)
        .exclude(added=0, repriced=0, retired=0)
        .order_by("-started_at", "-pk")
    )


def model_choices() -> list[tuple[str, str]]:
    """(model_id, name) of every current model, for pickers (one query)."""
    return list(
        CatalogModel.objects.filter(retired_at__isnull=True)
        .order_by("model_id")
        .values_list("model_id", "name")
    )


def provider_endpoints(*, catalog_model_id: int) -> list[ProviderEndpoint]:
    """A model's provider endpoints (model page), cheapest output first, unknown prices last."""
    rows = list(ProviderEndpoint.objects.filter(catalog_model_id=catalog_model_id))
    return sorted(
        rows,
        key=lambda e: (
            e.completion is None,
            e.completion or 0,
            e.prompt is None,
            e.prompt or 0,
            e.provider_name,
        ),
    )


def endpoints_of_provider(*, provider_name: str) -> list[ProviderEndpoint]:
    """Every fetched endpoint of one provider (the provider page linked from the spend page), by model id."""
    return list(
        ProviderEndpoint.objects.filter(provider_name=provider_name)
        .select_related("catalog_model")
        .order_by("catalog_model__model_id", "tag")
    )


def catalogue_size(*, include_retired: bool = False) -> int:
    """How many models the catalogue holds: current ones, or every one ever loaded (0: never loaded)."""
    models = CatalogModel.objects.all()
    if not include_retired:
        models = models.filter(retired_at__isnull=True)
    return models.count()


def is_openrouter_model(model_id: str) -> bool:
    """Is this an OpenRouter model of the catalogue (not a manual one of another upstream)?"""
    return CatalogModel.objects.filter(model_id=model_id, source=CatalogModel.Source.OPENROUTER).exists()


def current_models_priced() -> list[CatalogModel]:
    """Current models by id, each with `current`: its open price version in a list (empty without one)."""
    return list(
        CatalogModel.objects.filter(retired_at__isnull=True)
        .order_by("model_id")
        .only("model_id", "name", "context_length", "supported_parameters")
        .prefetch_related(
            Prefetch(
                "price_versions",
                queryset=PriceVersion.objects.filter(valid_to__isnull=True),
                to_attr="current",
            )
        )
    )
