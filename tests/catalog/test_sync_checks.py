"""Held syncs: a listing that would retire most models, set an absurd price or raise most prices >10× is
held with nothing applied; the real snapshots never are; the admin, --force and the task around it."""

from __future__ import annotations

import json
import logging
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from catalog.models import CatalogModel, PriceVersion, SyncRun
from catalog.services.sync import (
    HeldRunGone,
    catalog_fetch_and_sync,
    catalog_sync,
    catalog_sync_apply_held,
    sync_summary,
)
from catalog.tasks import sync_catalog
from tests.catalog.sync_data import SNAPSHOTS, catalogue_state, entries
from tests.catalog.test_sync_fetch import ListingApp
from tests.conftest import PASSWORD, LiveASGIServer

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 9, 1, tzinfo=UTC)
T2 = datetime(2026, 9, 2, tzinfo=UTC)
LATEST = "models-2026-08-19.json"


def model(model_id: str, prompt="0.000001", completion="0.000002", **pricing) -> dict:
    return {"id": model_id, "pricing": {"prompt": prompt, "completion": completion, **pricing}}


def ten(**pricing) -> list[dict]:
    return [model(f"acme/m{i}", **pricing) for i in range(10)]


def held(run: SyncRun) -> tuple[str, str]:
    return run.status, run.error


def test_the_real_snapshots_sync_in_date_order_without_a_hold_with_the_defaults():
    runs = [catalog_sync(payload=entries(name), source=name, now=at) for name, at in SNAPSHOTS]

    assert [sync_summary(r) for r in runs] == [
        "sync ok: models=321 added=321 repriced=0 retired=0 unchanged=0",
        "sync ok: models=335 added=161 repriced=69 retired=147 unchanged=105",  # 147 of 321 retired: 46%
        "sync ok: models=344 added=64 repriced=140 retired=55 unchanged=140",  # qwen2.5-vl-72b: 26.7×
        "sync ok: models=343 added=37 repriced=82 retired=38 unchanged=224",
        "sync ok: models=371 added=32 repriced=32 retired=4 unchanged=307",
        "sync ok: models=414 added=142 repriced=143 retired=99 unchanged=129",
    ]
    assert not SyncRun.objects.filter(status=SyncRun.Status.HELD).exists()


def test_a_short_listing_is_held_with_nothing_applied_and_its_listing_kept(caplog):
    catalog_sync(payload=entries(LATEST), source="first", now=T1)
    before = catalogue_state()
    short = [entries(LATEST)[0], model("acme/new")]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="catalog.services"):
        run = catalog_sync(payload={"data": short}, source="short", now=T2)

    assert held(run) == ("held", "would retire 413 of 414 models (limit 50%)")
    assert sync_summary(run) == "sync held: would retire 413 of 414 models (limit 50%)"
    assert (run.added, run.retired, run.unchanged) == (1, 413, 1)  # what it would have done
    assert catalogue_state() == before
    assert zlib.decompress(bytes(SyncRun.objects.get(pk=run.pk).listing)) == (
        b'{"data": [' + _json(short[0]) + b", " + _json(short[1]) + b"]}"
    )
    assert [r.getMessage() for r in caplog.records] == [
        "catalogue sync from short held: would retire 413 of 414 models (limit 50%)"
    ]
    # Half of them exactly is allowed.
    assert catalog_sync(payload=entries(LATEST)[:207], source="half", now=T2).status == "ok"


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def test_the_retirement_limit_is_a_setting(settings):
    settings.CATALOG_SYNC_MAX_RETIRED_PERCENT = Decimal(40)
    first, second = SNAPSHOTS[0], SNAPSHOTS[1]
    catalog_sync(payload=entries(first[0]), source="first", now=first[1])

    run = catalog_sync(payload=entries(second[0]), source="second", now=second[1])

    assert held(run) == ("held", "would retire 147 of 321 models (limit 40%)")
    assert CatalogModel.objects.filter(retired_at__isnull=True).count() == 321


@pytest.mark.parametrize(
    ("pricing", "reason"),
    [
        ({"prompt": "2"}, "would set anthropic/x prompt to $2.000000 per token (ceiling $0.01)"),
        (
            {"completion": "0.0100001"},
            "would set anthropic/x completion to $0.0100001 per token (ceiling $0.01)",
        ),
        (
            {"input_cache_write_1h": "1000000"},
            "would set anthropic/x input_cache_write_1h to $1000000.000000 per token (ceiling $0.01)",
        ),
        (
            {"image_output": "0.5"},
            "would set anthropic/x image_output to $0.500000 per token (ceiling $0.01)",
        ),
        ({"image": "100.01"}, "would set anthropic/x image to $100.010000 per image (ceiling $100)"),
        ({"request": "250"}, "would set anthropic/x request to $250.000000 per request (ceiling $100)"),
        (
            {"web_search": "101"},
            "would set anthropic/x web_search to $101.000000 per web search (ceiling $100)",
        ),
        (
            {"overrides": [{"min_prompt_tokens": 200000, "prompt": "0.02"}]},
            "would set anthropic/x prompt to $0.020000 per token (ceiling $0.01)",
        ),
    ],
)
def test_a_price_above_its_unit_ceiling_holds_the_sync(pricing, reason):
    catalog_sync(payload=[model("acme/a")], source="first", now=T1)
    before = catalogue_state()

    run = catalog_sync(payload=[model("acme/a"), model("anthropic/x", **pricing)], source="t", now=T2)

    assert held(run) == ("held", reason)
    assert catalogue_state() == before


def test_prices_at_the_ceilings_and_variable_ones_pass():
    listing = [
        model("anthropic/x", prompt="0.01", completion="-1", image="100", request="100", web_search="100"),
        model("openrouter/auto", prompt="-1", completion="-1", image="-1"),
    ]

    assert catalog_sync(payload=listing, source="t", now=T1).status == "ok"


def test_a_price_ceiling_is_a_setting_and_an_existing_price_is_not_checked_again(settings):
    catalog_sync(payload=[model("acme/a", prompt="0.002")], source="first", now=T1)
    settings.CATALOG_SYNC_MAX_TOKEN_PRICE = Decimal("0.001")

    unchanged = catalog_sync(payload=[model("acme/a", prompt="0.002"), model("acme/b")], source="t", now=T2)
    dearer = catalog_sync(
        payload=[model("acme/a", prompt="0.002"), model("acme/b", prompt="0.0015")],
        source="t",
        now=T2 + timedelta(hours=1),
    )

    assert unchanged.status == "ok"
    assert held(dearer) == ("held", "would set acme/b prompt to $0.001500 per token (ceiling $0.001)")


@pytest.mark.parametrize(
    ("raised", "status"),
    [(2, "ok"), (3, "held")],  # 2 of 10 is the limit (20%) itself; 3 is past it
)
def test_a_sync_raising_prices_more_than_ten_times_on_more_than_a_fifth_of_the_models_holds(raised, status):
    catalog_sync(payload=ten(), source="first", now=T1)
    listing = ten()
    for entry in listing[:raised]:
        entry["pricing"]["completion"] = "0.0000201"  # 10.05×

    run = catalog_sync(payload=listing, source="t", now=T2)

    assert run.status == status
    if status == "held":
        assert run.error == "would raise prices more than 10× on 3 of 10 models (limit 20%)"
        assert PriceVersion.objects.filter(completion=Decimal("0.0000201")).count() == 0


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"prompt": "0.000001"}, {"prompt": "0.00001"}),  # exactly 10× is not more than 10×
        ({"prompt": "0", "completion": "0"}, {"prompt": "0.001", "completion": "0.002"}),  # free -> paid
        (
            {"prompt": "-1", "completion": "-1"},
            {"prompt": "0.001", "completion": "0.002"},
        ),  # variable -> priced
        ({"prompt": "0.000001"}, {"prompt": "-1"}),  # priced -> variable
        ({"image": "0.001"}, {"image": "0.5"}),  # per image, not per token
        ({"request": "0.001"}, {"request": "0.5"}),
    ],
)
def test_what_never_counts_as_a_rise(before, after):
    catalog_sync(payload=ten(**before), source="first", now=T1)

    run = catalog_sync(payload=ten(**after), source="t", now=T2)

    assert (run.status, run.repriced) == ("ok", 10)


def test_a_rise_of_a_cache_price_counts(settings):
    catalog_sync(payload=ten(input_cache_read="0.0000001"), source="first", now=T1)

    run = catalog_sync(payload=ten(input_cache_read="0.0000011"), source="t", now=T2)

    assert held(run) == ("held", "would raise prices more than 10× on 10 of 10 models (limit 20%)")
    settings.CATALOG_SYNC_RAISE_FACTOR = Decimal(11)
    assert catalog_sync(payload=ten(input_cache_read="0.0000011"), source="t", now=T2).status == "ok"


def test_force_skips_the_checks():
    catalog_sync(payload=ten(), source="first", now=T1)

    run = catalog_sync(payload=[model("acme/m0", prompt="5")], source="t", now=T2, force=True)

    assert sync_summary(run) == "sync ok: models=1 added=0 repriced=1 retired=9 unchanged=0"
    assert PriceVersion.objects.get(catalog_model__model_id="acme/m0", valid_to=None).prompt == Decimal(5)


def test_a_held_run_applied_anyway_applies_its_stored_listing_once():
    catalog_sync(payload=ten(), source="first", now=T1)
    run = catalog_sync(payload=[model("acme/m0", prompt="5")], source="api", now=T2)

    applied = catalog_sync_apply_held(run_id=run.pk, now=T2 + timedelta(hours=1))

    assert sync_summary(applied) == "sync ok: models=1 added=0 repriced=1 retired=9 unchanged=0"
    assert applied.source == f"held run {run.pk} applied anyway: api"
    run.refresh_from_db()
    assert (run.status, run.listing) == ("held", None)
    assert run.error == (f"would retire 9 of 10 models (limit 50%) (applied anyway by run {applied.pk})")
    with pytest.raises(HeldRunGone, match=f"^sync run {run.pk} is not a held run with its listing"):
        catalog_sync_apply_held(run_id=run.pk)
    ok = SyncRun.objects.get(source="first")
    with pytest.raises(HeldRunGone):
        catalog_sync_apply_held(run_id=ok.pk)


@pytest.fixture
def admin_with_a_held_run(client, admin_user):
    client.login(username="admin", password=PASSWORD)
    catalog_sync(payload=ten(), source="first", now=T1)
    return client, catalog_sync(payload=[model("acme/m0")], source="api", now=T2)


def test_the_admin_lists_held_runs_and_applies_one_anyway_with_its_action(admin_with_a_held_run):
    client, run = admin_with_a_held_run

    listed = client.get("/admin/catalog/syncrun/", {"status__exact": "held"})
    page = client.get(f"/admin/catalog/syncrun/{run.pk}/change/")
    response = client.post(
        "/admin/catalog/syncrun/", {"action": "apply_anyway", "_selected_action": [run.pk]}, follow=True
    )

    assert [r.pk for r in listed.context["cl"].result_list] == [run.pk]
    assert "would retire 9 of 10 models (limit 50%)" in listed.content.decode()
    assert "Apply anyway" in page.content.decode()
    assert f'action="/admin/catalog/syncrun/{run.pk}/apply-anyway/"' in page.content.decode()
    assert [str(m) for m in response.context["messages"]] == [
        f"held run {run.pk} applied anyway: sync ok: models=1 added=0 repriced=0 retired=9 unchanged=1"
    ]
    assert CatalogModel.objects.filter(retired_at__isnull=True).count() == 1


def test_the_apply_anyway_button_posts_and_a_get_applies_nothing(admin_with_a_held_run):
    client, run = admin_with_a_held_run

    got = client.get(f"/admin/catalog/syncrun/{run.pk}/apply-anyway/")
    assert got.status_code == 302
    assert CatalogModel.objects.filter(retired_at__isnull=True).count() == 10

    posted = client.post(f"/admin/catalog/syncrun/{run.pk}/apply-anyway/")
    assert (posted.status_code, posted["Location"]) == (302, "/admin/catalog/syncrun/")
    assert CatalogModel.objects.filter(retired_at__isnull=True).count() == 1
    page = client.get(f"/admin/catalog/syncrun/{run.pk}/change/").content.decode()
    assert "Apply anyway" not in page


def test_the_admin_apply_anyway_needs_csrf(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.login(username="admin", password=PASSWORD)
    catalog_sync(payload=ten(), source="first", now=T1)
    run = catalog_sync(payload=[model("acme/m0")], source="api", now=T2)

    assert client.post(f"/admin/catalog/syncrun/{run.pk}/apply-anyway/").status_code == 403
    assert CatalogModel.objects.filter(retired_at__isnull=True).count() == 10


@pytest.fixture
def short_listing_server():
    server = LiveASGIServer(
        ListingApp(b'{"data": [{"id": "acme/m0", "pricing": {"prompt": "0", "completion": "0"}}]}')
    )
    yield server.start()
    server.stop()


def test_the_scheduled_task_records_a_held_run_and_logs_one_line(short_listing_server, settings, caplog):
    settings.OPENROUTER_BASE_URL = f"{short_listing_server.url}/api/v1"
    catalog_sync(payload=ten(), source="first", now=T1)

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="catalog.services"):
        run_id = sync_catalog.apply().get()

    run = SyncRun.objects.get(pk=run_id)
    assert held(run) == ("held", "would retire 9 of 10 models (limit 50%)")
    assert [r.getMessage() for r in caplog.records] == [
        f"catalogue sync from {short_listing_server.url}/api/v1/models held: "
        "would retire 9 of 10 models (limit 50%)"
    ]
    forced = catalog_fetch_and_sync(force=True)
    assert sync_summary(forced) == "sync ok: models=1 added=0 repriced=1 retired=9 unchanged=0"
