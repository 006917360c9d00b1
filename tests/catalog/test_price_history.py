"""A model's first prices hold from its publication (`created`): at first load, and backdated by migration
0006 for models loaded before (catalog.services.price_history); catalogue counts leave retired models out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.models import CatalogModel, PriceVersion
from catalog.selectors.catalogue import catalogue_models, catalogue_size
from catalog.services.manual_models import manual_model_add, price_version_add
from catalog.services.price_history import first_prices_backdate
from catalog.services.sync import catalog_sync

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 3, 1, tzinfo=UTC)
T2 = datetime(2026, 3, 2, tzinfo=UTC)
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def model(model_id: str, created: datetime | None, prompt: str = "0.000001") -> dict:
    entry = {"id": model_id, "pricing": {"prompt": prompt, "completion": "0.000002"}}
    if created is not None:
        entry["created"] = int(created.timestamp())
    return entry


def history(model_id: str) -> list[tuple[datetime, datetime | None]]:
    versions = PriceVersion.objects.filter(catalog_model__model_id=model_id).order_by("valid_from")
    return list(versions.values_list("valid_from", "valid_to"))


def test_a_new_models_first_prices_start_at_its_created_date_and_later_ones_at_the_sync():
    catalog_sync(
        payload=[
            model("acme/old", JAN),
            model("acme/undated", None),
            model("acme/future", datetime(2027, 1, 1, tzinfo=UTC)),
        ],
        source="t1",
        now=T1,
    )
    catalog_sync(
        payload=[
            model("acme/old", JAN, prompt="0.000003"),
            model("acme/undated", None),
            model("acme/new", T1),
        ],
        source="t2",
        now=T2,
    )

    assert history("acme/old") == [(JAN, T2), (T2, None)]
    assert history("acme/undated") == [(T1, None)]  # no created: from the load
    assert history("acme/future") == [(T1, None)]  # a created after the load: from the load
    assert history("acme/new") == [(T1, None)]  # listed at T2, created at T1


def test_the_backfill_moves_each_synced_models_earliest_version_back_to_its_created_date():
    catalog_sync(
        payload=[model("acme/old", JAN), model("acme/undated", None), model("acme/late", T2)],
        source="t1",
        now=T1,
    )
    catalog_sync(payload=[model("acme/old", JAN, prompt="0.000003")], source="t2", now=T2, force=True)
    # As loaded before the first version was dated from `created`: every first version from the load, T1.
    PriceVersion.objects.filter(valid_from__lt=T1).update(valid_from=T1)
    local = manual_model_add(model_id="local/x", now=T1)
    CatalogModel.objects.filter(pk=local.pk).update(created=JAN)
    price_version_add(
        catalog_model=local, valid_from=T2, prices={"prompt": Decimal(1), "completion": Decimal(2)}
    )

    moved = first_prices_backdate()

    assert moved == 1
    assert history("acme/old") == [(JAN, T2), (T2, None)]
    assert history("acme/undated") == [(T1, None)]
    assert history("acme/late") == [(T1, None)]  # created after its first version: kept
    assert history("local/x") == [(T2, None)]  # manual: the dates a person entered are kept
    assert first_prices_backdate() == 0


def test_catalogue_counts_leave_retired_models_out_unless_asked():
    catalog_sync(payload=[model("acme/a", JAN), model("acme/b", JAN)], source="t1", now=T1)
    catalog_sync(payload=[model("acme/a", JAN)], source="t2", now=T2)

    assert (catalogue_size(), catalogue_size(include_retired=True)) == (1, 2)
    assert [r.model.model_id for r in catalogue_models()] == ["acme/a"]
    assert len(catalogue_models(include_retired=True)) == 2
