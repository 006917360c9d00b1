"""catalog_sync over the real snapshots: counts, dated prices, retire / return, drift, query bound, lock."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from catalog.models import CatalogModel, PriceVersion, SyncLock, SyncRun
from catalog.selectors.catalogue import catalog_changes
from catalog.selectors.prices import price_at
from catalog.services.sync import catalog_load_seed, catalog_sync, catalog_sync_lock, sync_summary
from tests.catalog.sync_data import SNAPSHOTS, catalogue_state, entries, expected_counts

pytestmark = pytest.mark.django_db


def price_history(model_pk: int) -> list[PriceVersion]:
    return list(PriceVersion.objects.filter(catalog_model_id=model_pk).order_by("valid_from"))


def open_version(model_pk: int) -> PriceVersion:
    return PriceVersion.objects.get(catalog_model_id=model_pk, valid_to=None)


def priced_models() -> list[str]:
    """Current models with an open price version."""
    models = CatalogModel.objects.filter(retired_at=None, price_versions__valid_to=None)
    return sorted(models.values_list("model_id", flat=True))


T1 = datetime(2026, 3, 1, tzinfo=UTC)
T2 = datetime(2026, 3, 2, tzinfo=UTC)
T3 = datetime(2026, 3, 3, tzinfo=UTC)
CREATED = datetime(2026, 1, 1, tzinfo=UTC)  # model()'s "created": its first prices hold from then


def model(model_id: str, prompt="0.000001", completion="0.000002", **pricing) -> dict:
    return {
        "id": model_id,
        "name": model_id.title(),
        "created": 1767225600,
        "context_length": 8192,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
        },
        "pricing": {"prompt": prompt, "completion": completion, **pricing},
        "top_provider": {"context_length": 8192, "max_completion_tokens": 4096, "is_moderated": False},
        "supported_parameters": ["tools"],
    }


def counts(run: SyncRun) -> dict:
    return {
        "models": run.models_count,
        "added": run.added,
        "repriced": run.repriced,
        "retired": run.retired,
        "unchanged": run.unchanged,
    }


def test_syncing_every_snapshot_in_date_order_reports_the_counts_read_from_the_files():
    expected = expected_counts()
    runs = [catalog_sync(payload=entries(name), source=name, now=at) for name, at in SNAPSHOTS]

    assert [counts(r) for r in runs] == expected
    # The cross-check with SOURCES.md's table (neighbouring files; the added and removed columns).
    assert [(r.added, r.retired) for r in runs[1:]] == [(161, 147), (64, 55), (37, 38), (32, 4), (142, 99)]
    assert [r.status for r in runs] == ["ok"] * 6
    assert CatalogModel.objects.count() == len({e["id"] for name, _ in SNAPSHOTS for e in entries(name)})
    assert CatalogModel.objects.filter(retired_at__isnull=True).count() == 414
    # Every model has exactly one open price version, and never a negative price.
    assert PriceVersion.objects.filter(valid_to__isnull=True).count() == CatalogModel.objects.count()
    assert not PriceVersion.objects.filter(prompt__lt=0).exists()

    llama = CatalogModel.objects.get(model_id="meta-llama/llama-3.3-70b-instruct")
    history = price_history(llama.pk)
    # Its first prices hold from its publication (`created`, 2024-12-06), not from the first sync.
    assert [(v.valid_from.date().isoformat(), v.prompt, v.completion) for v in history] == [
        ("2024-12-06", Decimal("0.00000007"), Decimal("0.00000025")),
        ("2025-12-02", Decimal("0.000000108"), Decimal("0.00000032")),
        ("2026-02-27", Decimal("0.0000001"), Decimal("0.00000032")),
        ("2026-04-21", Decimal("0.00000012"), Decimal("0.00000038")),
        ("2026-05-01", Decimal("0.0000001"), Decimal("0.00000032")),
    ]
    between = price_at(catalog_model_id=llama.pk, at=datetime(2025, 8, 1, tzinfo=UTC))
    assert (between.prompt, between.completion) == (Decimal("0.00000007"), Decimal("0.00000025"))
    before_first_sync = price_at(catalog_model_id=llama.pk, at=datetime(2025, 5, 1, tzinfo=UTC))
    assert (before_first_sync.prompt, before_first_sync.completion) == (
        Decimal("0.00000007"),
        Decimal("0.00000025"),
    )
    assert history[0].valid_from == llama.created
    assert price_at(catalog_model_id=llama.pk, at=llama.created - timedelta(seconds=1)) is None

    # gpt-4o's token prices never moved; its image and cache-read prices left and came back.
    gpt4o = CatalogModel.objects.get(model_id="openai/gpt-4o")
    history = price_history(gpt4o.pk)
    assert [(v.valid_from.date().isoformat(), v.image, v.input_cache_read) for v in history] == [
        ("2024-05-13", Decimal("0.003613"), Decimal("0.00000125")),
        ("2026-02-27", Decimal(0), Decimal("0.00000125")),
        ("2026-04-21", Decimal(0), Decimal(0)),
        ("2026-08-19", Decimal(0), Decimal("0.00000125")),
    ]
    assert {(v.prompt, v.completion) for v in history} == {(Decimal("0.0000025"), Decimal("0.00001"))}

    resync = catalog_sync(
        payload=entries(SNAPSHOTS[-1][0]), source="again", now=SNAPSHOTS[-1][1] + timedelta(hours=1)
    )
    assert sync_summary(resync) == "sync ok: models=414 added=0 repriced=0 retired=0 unchanged=414"


def test_a_repricing_closes_the_open_version_and_the_price_at_an_instant_follows_it():
    catalog_sync(payload={"data": [model("acme/a"), model("acme/b")]}, source="t1", now=T1)
    run = catalog_sync(
        payload={"data": [model("acme/a", prompt="0.0000015"), model("acme/b")]}, source="t2", now=T2
    )

    assert counts(run) == {"models": 2, "added": 0, "repriced": 1, "retired": 0, "unchanged": 1}
    assert run.changes["repriced"] == [
        {
            "model_id": "acme/a",
            "old": {"prompt": "0.000001", "completion": "0.000002"},
            "new": {"prompt": "0.0000015", "completion": "0.000002"},
        }
    ]
    a = CatalogModel.objects.get(model_id="acme/a")
    assert [(v.valid_from, v.valid_to, v.prompt) for v in price_history(a.pk)] == [
        (CREATED, T2, Decimal("0.000001")),
        (T2, None, Decimal("0.0000015")),
    ]
    assert price_at(catalog_model_id=a.pk, at=T1 + timedelta(hours=12)).prompt == Decimal("0.000001")
    assert price_at(catalog_model_id=a.pk, at=T2).prompt == Decimal("0.0000015")
    assert open_version(a.pk).prompt == Decimal("0.0000015")
    assert priced_models() == ["acme/a", "acme/b"]
    assert [r.pk for r in catalog_changes().filter(started_at__gte=T2)] == [run.pk]


def test_an_equal_price_written_differently_is_not_a_change_and_writes_no_price_row():
    catalog_sync(payload=[model("acme/a", request="0")], source="t1", now=T1)
    versions = list(PriceVersion.objects.values_list("pk", "valid_to"))

    run = catalog_sync(payload=[model("acme/a", prompt="0.0000010", completion="2E-6")], source="t2", now=T2)

    assert counts(run) == {"models": 1, "added": 0, "repriced": 0, "retired": 0, "unchanged": 1}
    assert list(PriceVersion.objects.values_list("pk", "valid_to")) == versions
    assert (
        CatalogModel.objects.get().raw["pricing"]["completion"] == "2E-6"
    )  # the listing itself is refreshed


def test_a_model_missing_from_the_listing_is_retired_and_un_retired_when_it_comes_back():
    catalog_sync(payload=[model("acme/a"), model("acme/b")], source="t1", now=T1)
    gone = catalog_sync(payload=[model("acme/a")], source="t2", now=T2)
    b = CatalogModel.objects.get(model_id="acme/b")

    assert counts(gone) == {"models": 1, "added": 0, "repriced": 0, "retired": 1, "unchanged": 1}
    assert gone.changes["retired"] == ["acme/b"]
    assert (b.retired_at, b.last_seen) == (T2, T1)
    assert priced_models() == ["acme/a"]
    assert open_version(b.pk).prompt == Decimal("0.000001")  # history kept

    back = catalog_sync(
        payload=[model("acme/a"), model("acme/b", completion="0.000003")], source="t3", now=T3
    )
    b.refresh_from_db()

    assert counts(back) == {"models": 2, "added": 0, "repriced": 1, "retired": 0, "unchanged": 1}
    assert back.changes["returned"] == ["acme/b"]
    assert (b.retired_at, b.first_seen, b.last_seen) == (None, T1, T3)
    assert [(v.valid_from, v.valid_to, v.completion) for v in price_history(b.pk)] == [
        (CREATED, T3, Decimal("0.000002")),
        (T3, None, Decimal("0.000003")),
    ]


def test_a_returning_model_with_the_same_prices_counts_as_unchanged():
    catalog_sync(payload=[model("acme/a"), model("acme/b")], source="t1", now=T1)
    catalog_sync(payload=[model("acme/a")], source="t2", now=T2)

    back = catalog_sync(payload=[model("acme/a"), model("acme/b")], source="t3", now=T3)

    assert counts(back) == {"models": 2, "added": 0, "repriced": 0, "retired": 0, "unchanged": 2}
    assert back.changes == {"added": [], "repriced": [], "retired": [], "returned": ["acme/b"]}
    assert CatalogModel.objects.get(model_id="acme/b").retired_at is None


def test_variable_prices_are_stored_as_null_never_negative():
    catalog_sync(payload=[model("openrouter/auto", prompt="-1", completion="-1")], source="t1", now=T1)

    version = PriceVersion.objects.get()
    assert (version.prompt, version.completion, version.request) == (None, None, Decimal(0))
    run = catalog_sync(payload=[model("openrouter/auto", prompt="-1", completion="-1")], source="t2", now=T2)
    assert run.unchanged == 1
    priced = catalog_sync(
        payload=[model("openrouter/auto", prompt="0.000001", completion="-1")], source="t3", now=T3
    )
    assert priced.changes["repriced"][0]["old"] == {"prompt": None, "completion": None}
    assert priced.changes["repriced"][0]["new"] == {"prompt": "0.000001", "completion": None}


def test_schema_drift_new_categories_overrides_and_fields_are_kept():
    listing = model(
        "acme/voice",
        image=None,
        input_cache_write_1h="0.00000375",
        input_audio_cache="0.0000001",
        image_token="-1",
        tiers={"note": "unknown shape"},
        overrides=[{"min_prompt_tokens": 128000, "prompt": "0.000002", "completion": "0.000004"}],
    )
    listing.update(
        {
            "knowledge_cutoff": "2025-06",
            "expiration_date": "2026-12-31",
            "benchmarks": {"x": 1},
            "context_length": "big",
        }
    )
    run = catalog_sync(
        payload={"data": [listing], "total_count": 1, "links": {"next": None}}, source="t1", now=T1
    )

    assert run.status == "ok", run.error
    version = PriceVersion.objects.get()
    assert (version.image, version.input_cache_write_1h) == (Decimal(0), Decimal("0.00000375"))
    assert version.extra == {
        "input_audio_cache": "0.0000001",
        "image_token": None,
        "tiers": {"note": "unknown shape"},
    }
    assert version.overrides == [
        {"min_prompt_tokens": 128000, "prompt": "0.000002", "completion": "0.000004"}
    ]
    stored = CatalogModel.objects.get()
    assert (stored.knowledge_cutoff, stored.expiration_date.isoformat(), stored.context_length) == (
        "2025-06",
        "2026-12-31",
        None,
    )
    assert stored.raw["benchmarks"] == {"x": 1}
    assert (stored.max_completion_tokens, stored.author, stored.modality) == (4096, "acme", "text->text")

    listing["pricing"]["overrides"][0]["prompt"] = "0.0000025"
    tiers = catalog_sync(payload=[listing], source="t2", now=T2)
    assert tiers.repriced == 1


def test_the_oldest_and_newest_snapshot_shapes_both_load():
    old = catalog_sync(payload=entries("models-2025-05-23.json"), source="old", now=T1)
    assert old.status == "ok"
    assert CatalogModel.objects.get(model_id="openai/gpt-4o").canonical_slug == ""

    # 15 months apart, most of the old models are gone: forced past the retirement check.
    new = catalog_sync(payload=entries("models-2026-08-19.json"), source="new", now=T2, force=True)
    assert new.status == "ok"
    with_tiers = PriceVersion.objects.filter(valid_to__isnull=True).exclude(overrides=[])
    assert with_tiers.count() == 61
    assert (
        PriceVersion.objects.filter(valid_to__isnull=True, extra__has_key="input_audio_cache").count() == 27
    )


def repriced_copy(listing: list[dict]) -> list[dict]:
    """Every model renamed and one cent per million tokens dearer (variable ones get a price)."""
    changed = copy.deepcopy(listing)
    for entry in changed:
        prompt = Decimal(entry["pricing"]["prompt"])
        entry["pricing"]["prompt"] = str(Decimal("0.00000001") + (prompt if prompt >= 0 else 0))
        entry["name"] = entry["name"] + " (new name)"
    return changed


@pytest.mark.parametrize("size", [20, 414])
def test_a_sync_runs_a_fixed_number_of_queries_whatever_the_model_count(size, django_assert_max_num_queries):
    listing = entries("models-2026-08-19.json")[:size]
    with django_assert_max_num_queries(14):
        first = catalog_sync(payload=listing, source="first", now=T1)
    with django_assert_max_num_queries(14):
        repriced = catalog_sync(payload=repriced_copy(listing), source="repriced", now=T2)
    renamed = CatalogModel.objects.filter(name__endswith="(new name)").count()
    with django_assert_max_num_queries(14):
        retired = catalog_sync(payload=listing[: size // 2], source="half", now=T3)

    assert (first.added, repriced.repriced, renamed, retired.retired) == (size, size, size, size - size // 2)


def test_an_unchanged_resync_writes_no_price_row_and_updates_only_last_seen(django_assert_max_num_queries):
    catalog_sync(payload=entries("models-2026-08-19.json"), source="first", now=T1)
    before = list(PriceVersion.objects.order_by("pk").values())

    with django_assert_max_num_queries(9):  # run, lock x3, read models, last_seen, run saved (+ savepoints)
        run = catalog_sync(payload=entries("models-2026-08-19.json"), source="again", now=T2)

    assert run.unchanged == 414
    assert list(PriceVersion.objects.order_by("pk").values()) == before
    assert set(CatalogModel.objects.values_list("last_seen", flat=True)) == {T2}


def test_a_sync_fails_without_writing_while_another_holds_the_lock():
    catalog_sync(payload=[model("acme/a")], source="t1", now=T1)
    before = catalogue_state()

    with catalog_sync_lock(holder="the other sync"):
        run = catalog_sync(payload=[model("acme/b")], source="t2", now=T2)

    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("another catalogue sync is running (held by the other sync until ")
    assert catalogue_state() == before
    released = catalog_sync(payload=[model("acme/a"), model("acme/b")], source="t3", now=T3)
    assert released.status == "ok"


def test_a_lease_left_by_a_crashed_sync_runs_out():
    SyncLock.objects.create(
        name="catalog_sync", holder="crashed", locked_until=datetime(2020, 1, 1, tzinfo=UTC)
    )

    run = catalog_sync(payload=[model("acme/a")], source="t1", now=T1)

    assert run.status == "ok"
    assert SyncLock.objects.get().locked_until is None


def test_the_bundled_seed_loads_the_whole_snapshot():
    run = catalog_load_seed(now=T1)

    assert sync_summary(run) == "sync ok: models=414 added=414 repriced=0 retired=0 unchanged=0"
    assert run.source == "bundled snapshot models-2026-08-19.json.gz"


def test_a_discount_is_stored_and_a_new_discount_is_a_repricing():
    catalog_sync(payload=[model("acme/a", discount=0.25)], source="t1", now=T1)
    assert PriceVersion.objects.get().discount == Decimal("0.25")

    run = catalog_sync(payload=[model("acme/a", discount="0.5")], source="t2", now=T2)

    assert run.changes["repriced"][0]["new"] == {
        "prompt": "0.000001",
        "completion": "0.000002",
        "discount": "0.5",
    }
    assert list(PriceVersion.objects.values_list("discount", flat=True)) == [Decimal("0.25"), Decimal("0.5")]


def test_a_repricing_dated_before_the_open_version_fails_and_changes_nothing():
    undated = model("acme/a")
    del undated["created"]  # its first prices hold from the sync, T2
    catalog_sync(payload=[undated], source="t2", now=T2)
    before = catalogue_state()

    run = catalog_sync(payload=[model("acme/a", prompt="0.000005"), model("acme/new")], source="t1", now=T1)

    assert (run.status, run.error) == (
        "failed",
        "model 'acme/a' has prices from 2026-03-02 00:00:00, not before this sync: is the clock right?",
    )
    assert catalogue_state() == before


def test_nul_characters_are_dropped_from_texts_and_refused_in_ids():
    listing = model("acme/a")
    listing["description"] = "before\x00after"
    listing["architecture"]["tokenizer"] = "\x00Other"

    run = catalog_sync(payload=[listing], source="t1", now=T1)

    stored = CatalogModel.objects.get()
    assert (run.status, stored.description, stored.tokenizer) == ("ok", "beforeafter", "Other")
    assert stored.raw["description"] == "beforeafter"
    bad = catalog_sync(payload=[model("acme/\x00b")], source="t2", now=T2)
    assert (bad.status, bad.error) == ("failed", "model #1 has a NUL character in its id")
