"""Manual models (other upstreams): added in the admin with dated price versions, left alone by the sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import time_machine
from django.core.exceptions import ValidationError

from catalog.models import CatalogModel, PriceVersion
from catalog.selectors.prices import price_at
from catalog.services.manual_models import manual_model_add, price_version_add
from catalog.services.sync import catalog_fetch_and_sync, catalog_sync
from tests.catalog.sync_data import entries
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 2, 1, 8, tzinfo=UTC)
T1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
T2 = datetime(2026, 4, 1, 12, 30, tzinfo=UTC)
ADD_MODEL = "/admin/catalog/catalogmodel/add/"
ADD_PRICE = "/admin/catalog/manualpriceversion/add/"
VERSION_COLUMNS = (
    "valid_from",
    "valid_to",
    "prompt",
    "completion",
    "input_cache_read",
    "input_cache_write",
    "request",
    "web_search",
)


@pytest.fixture
def staff(client, admin_user):
    client.login(username="admin", password=PASSWORD)
    return client


def price_form(model_pk: int, at: datetime, **prices: str) -> dict:
    form = {"catalog_model": model_pk, "valid_from_0": f"{at:%Y-%m-%d}", "valid_from_1": f"{at:%H:%M:%S}"}
    form |= {"prompt": "", "completion": "", "input_cache_read": "", "input_cache_write": "", "request": ""}
    return form | prices


def versions(model: CatalogModel) -> list[tuple]:
    return list(
        PriceVersion.objects.filter(catalog_model=model).order_by("valid_from").values_list(*VERSION_COLUMNS)
    )


def manual_with_price(model_id: str = "local/qwen3-8b") -> CatalogModel:
    model = manual_model_add(model_id=model_id, name="Qwen3 8B", context_length=32768, now=T0)
    price_version_add(
        catalog_model=model,
        valid_from=T1,
        prices={"prompt": Decimal("0.0000001"), "completion": Decimal("0.0000004")},
    )
    return model


def test_an_admin_adds_a_manual_model_then_two_dated_price_versions(staff):
    fields = list(staff.get(ADD_MODEL).context["adminform"].form.fields)
    assert fields == ["model_id", "name", "context_length", "description"]
    with time_machine.travel(T0, tick=False):
        response = staff.post(
            ADD_MODEL,
            {
                "model_id": "local/qwen3-8b",
                "name": "Qwen3 8B (vLLM)",
                "context_length": "32768",
                "description": "On the lab GPU.",
            },
        )
    assert response.status_code == 302
    model = CatalogModel.objects.get()
    assert (model.model_id, model.source, model.author, model.name, model.context_length) == (
        "local/qwen3-8b",
        "manual",
        "local",
        "Qwen3 8B (vLLM)",
        32768,
    )
    assert (model.description, model.first_seen, model.last_seen, model.retired_at) == (
        "On the lab GPU.",
        T0,
        T0,
        None,
    )
    assert model.raw == {
        "id": "local/qwen3-8b",
        "name": "Qwen3 8B (vLLM)",
        "description": "On the lab GPU.",
        "context_length": 32768,
        "created": int(T0.timestamp()),
    }
    assert response["Location"] == "/admin/catalog/catalogmodel/"
    page = staff.get(f"/admin/catalog/catalogmodel/{model.pk}/change/").content.decode()
    assert f'href="{ADD_PRICE}?catalog_model={model.pk}"' in page
    form = staff.get(ADD_PRICE, {"catalog_model": model.pk}).context["adminform"].form
    assert form.initial["catalog_model"] == str(model.pk)
    assert "per 1M tokens" in form.fields["prompt"].help_text

    first = staff.post(ADD_PRICE, price_form(model.pk, T1, prompt="0.0000001", completion="0.0000004"))
    second = staff.post(
        ADD_PRICE,
        price_form(
            model.pk,
            T2,
            prompt="0.0000002",
            completion="0.0000008",
            input_cache_read="0.00000005",
            input_cache_write="0.00000025",
            request="0.001",
        ),
    )

    assert (first.status_code, second.status_code) == (302, 302)
    assert versions(model) == [
        (T1, T2, Decimal("1E-7"), Decimal("4E-7"), Decimal(0), Decimal(0), Decimal(0), Decimal(0)),
        (
            T2,
            None,
            Decimal("2E-7"),
            Decimal("8E-7"),
            Decimal("5E-8"),
            Decimal("2.5E-7"),
            Decimal("0.001"),
            Decimal(0),
        ),
    ]
    assert price_at(catalog_model_id=model.pk, at=datetime(2026, 3, 15, tzinfo=UTC)).valid_from == T1
    assert price_at(catalog_model_id=model.pk, at=T2).valid_from == T2
    listing = staff.get("/admin/catalog/manualpriceversion/").content.decode()
    assert "$0.20" in listing and "$0.80" in listing and "$0.05" in listing and "$0.25" in listing


@pytest.mark.parametrize("at", [T1, datetime(2026, 2, 20, tzinfo=UTC)])
def test_a_price_version_not_after_the_open_one_is_a_form_error_and_nothing_is_saved(staff, at):
    model = manual_with_price()

    response = staff.post(ADD_PRICE, price_form(model.pk, at, prompt="0.0000002", completion="0.0000008"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "valid_from": ["must be after 2026-03-01 10:00:00 UTC"]
    }
    assert versions(model) == [(T1, None, Decimal("1E-7"), Decimal("4E-7"), 0, 0, 0, 0)]


def test_a_negative_price_is_a_form_error_and_nothing_is_saved(staff):
    model = manual_model_add(model_id="local/llama", now=T0)

    response = staff.post(
        ADD_PRICE, price_form(model.pk, T1, prompt="0.0000001", completion="-0.0000004", request="-1")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "completion": ["A price cannot be negative."],
        "request": ["A price cannot be negative."],
    }
    assert versions(model) == []


def test_input_and_output_prices_are_required(staff):
    model = manual_model_add(model_id="local/llama", now=T0)

    response = staff.post(ADD_PRICE, price_form(model.pk, T1, prompt="0.0000001"))

    assert response.context["adminform"].form.errors == {"completion": ["This field is required."]}
    assert versions(model) == []


def test_a_manual_model_needs_a_new_id_with_an_author(staff):
    catalog_sync(payload=entries("models-2026-08-19.json")[:1], source="t", now=T0)
    taken = CatalogModel.objects.get().model_id

    no_author = staff.post(ADD_MODEL, {"model_id": "qwen3-8b", "name": "x"})
    duplicate = staff.post(ADD_MODEL, {"model_id": taken, "name": "x"})

    assert no_author.context["adminform"].form.errors == {
        "model_id": [
            "Enter the id clients send, with the upstream's prefix, e.g. 'local/qwen3-8b': 'qwen3-8b'."
        ]
    }
    assert duplicate.context["adminform"].form.errors == {
        "model_id": ["Catalog model with this Model id already exists."]
    }
    assert list(CatalogModel.objects.values_list("model_id", "source")) == [(taken, "openrouter")]


def test_an_admin_edits_a_manual_models_name_but_not_its_id(staff):
    model = manual_with_price()

    response = staff.post(
        f"/admin/catalog/catalogmodel/{model.pk}/change/",
        {
            "model_id": "local/other",
            "name": "Qwen3 8B AWQ",
            "context_length": "16384",
            "description": "q",
            # The read-only price versions inline's management form, as the page sends it.
            "price_versions-TOTAL_FORMS": "1",
            "price_versions-INITIAL_FORMS": "1",
        },
    )

    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.model_id, model.name, model.context_length, model.description) == (
        "local/qwen3-8b",
        "Qwen3 8B AWQ",
        16384,
        "q",
    )
    assert (model.raw["name"], model.raw["context_length"]) == ("Qwen3 8B AWQ", 16384)


def test_the_sync_neither_retires_nor_reprices_nor_overwrites_a_manual_model():
    model = manual_with_price()
    before = CatalogModel.objects.values().get(pk=model.pk)
    listing = entries("models-2026-08-19.json")[:5]
    catalog_sync(payload=listing, source="first", now=datetime(2026, 5, 1, tzinfo=UTC))
    # OpenRouter's listing without the manual model: the OpenRouter models it drops retire, the manual one not.
    run = catalog_sync(payload=listing[:3], source="second", now=datetime(2026, 5, 2, tzinfo=UTC))

    assert (run.status, run.models_count, run.added, run.repriced, run.retired, run.unchanged) == (
        "ok",
        3,
        0,
        0,
        2,
        3,
    )
    assert run.changes["retired"] == sorted(e["id"] for e in listing[3:])
    assert CatalogModel.objects.values().get(pk=model.pk) == before
    assert versions(model) == [(T1, None, Decimal("1E-7"), Decimal("4E-7"), 0, 0, 0, 0)]


def test_a_listed_id_that_is_a_manual_model_is_skipped_and_counted_unchanged(caplog):
    listing = entries("models-2026-08-19.json")[:4]
    model = manual_with_price(model_id=listing[0]["id"])
    before = CatalogModel.objects.values().get(pk=model.pk)
    body = json.dumps({"data": listing}).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))

    run = catalog_fetch_and_sync(url="https://openrouter.test/api/v1/models", transport=transport, now=T2)
    again = catalog_fetch_and_sync(
        url="https://openrouter.test/api/v1/models", transport=transport, now=datetime(2026, 4, 2, tzinfo=UTC)
    )

    assert (run.status, run.models_count, run.added, run.repriced, run.retired, run.unchanged) == (
        "ok",
        4,
        3,
        0,
        0,
        1,
    )
    assert run.changes["added"] == [e["id"] for e in listing[1:]]
    assert (again.added, again.repriced, again.retired, again.unchanged) == (0, 0, 0, 4)
    assert CatalogModel.objects.values().get(pk=model.pk) == before
    assert versions(model) == [(T1, None, Decimal("1E-7"), Decimal("4E-7"), 0, 0, 0, 0)]
    assert f"skipped listed ids that are manual models: {listing[0]['id']}" in caplog.text


def test_an_openrouter_model_stays_view_only_and_gets_no_admin_prices(staff):
    catalog_sync(payload=entries("models-2026-08-19.json")[:1], source="t", now=T0)
    synced = CatalogModel.objects.get()
    name = synced.name
    manual = manual_with_price()

    page = staff.get(f"/admin/catalog/catalogmodel/{synced.pk}/change/")
    post = staff.post(f"/admin/catalog/catalogmodel/{synced.pk}/change/", {"name": "renamed"})
    price = staff.post(ADD_PRICE, price_form(synced.pk, T2, prompt="0.0000001", completion="0.0000002"))

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "Add a dated price version" not in page.content.decode()
    assert post.status_code == 403
    assert list(price.context["adminform"].form.errors) == ["catalog_model"]
    synced.refresh_from_db()
    assert synced.name == name
    assert PriceVersion.objects.filter(catalog_model=synced).count() == 1
    with pytest.raises(ValidationError) as error:
        price_version_add(catalog_model=synced, valid_from=T2, prices={"prompt": Decimal(1)})
    assert error.value.messages == ["Prices of OpenRouter models come from the sync only."]
    # The price versions list shows manual models' versions only, and none can be changed or deleted.
    listed = staff.get("/admin/catalog/manualpriceversion/").context["cl"].result_list
    assert [v.catalog_model_id for v in listed] == [manual.pk]
    version = PriceVersion.objects.get(catalog_model=manual)
    assert staff.post(f"/admin/catalog/manualpriceversion/{version.pk}/change/", {}).status_code == 403
    assert (
        staff.post(f"/admin/catalog/manualpriceversion/{version.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert versions(manual) == [(T1, None, Decimal("1E-7"), Decimal("4E-7"), 0, 0, 0, 0)]


def test_a_manual_model_shows_on_the_catalogue_pages_with_its_price(staff):
    manual_with_price()

    listing = staff.get("/models/")
    detail = staff.get("/models/local/qwen3-8b/")

    assert listing.status_code == 200
    assert "local/qwen3-8b" in listing.content.decode()
    assert detail.status_code == 200
    assert "$0.10" in detail.content.decode() and "$0.40" in detail.content.decode()
    assert "has no OpenRouter providers" in detail.content.decode()
    assert "Refresh providers" not in detail.content.decode()
    refresh = staff.post("/providers/refresh/", {"model": "local/qwen3-8b"})
    assert refresh.status_code == 404
