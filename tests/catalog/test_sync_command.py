"""`manage.py sync_catalog` as a person runs it: exact lines and exit codes, in a child process."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from catalog.models import CatalogModel
from tests.catalog.sync_data import DATA
from tests.conftest import run_manage


def test_the_command_prints_one_summary_line_and_exits_non_zero_on_failure(tmp_path):
    env = {
        "TOKENLEDGER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "OPENROUTER_BASE_URL": "http://127.0.0.1:9",
    }
    assert run_manage("migrate", "-v0", env=env).returncode == 0

    first = run_manage(
        "sync_catalog", "--from-file", str(DATA / "models-2026-05-01.data-array.json"), env=env
    )
    second = run_manage("sync_catalog", "--from-file", str(DATA / "models-2026-08-19.json"), env=env)
    (tmp_path / "empty.json").write_text('{"data": []}')
    empty = run_manage("sync_catalog", "--from-file", str(tmp_path / "empty.json"), env=env)
    unreachable = run_manage("sync_catalog", env=env)

    assert (first.returncode, first.stdout, first.stderr) == (
        0,
        "sync ok: models=371 added=371 repriced=0 retired=0 unchanged=0\n",
        "",
    )
    # 2026-05-01 -> 2026-08-19: SOURCES.md's 142 added and 99 removed; 143 of the 272 kept were repriced.
    assert second.stdout == "sync ok: models=414 added=142 repriced=143 retired=99 unchanged=129\n"
    assert (empty.returncode, empty.stdout, empty.stderr) == (
        1,
        "",
        "sync failed: the listing has no models: refusing to retire the whole catalogue\n",
    )
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("sync failed: cannot reach http://127.0.0.1:9/models: [Errno 111] ")
    assert unreachable.stderr.endswith(" (3 attempts)\n")
    assert len(unreachable.stderr.splitlines()) == 1


@pytest.mark.django_db
def test_the_seed_option_loads_the_bundled_snapshot():
    out = io.StringIO()

    call_command("sync_catalog", "--seed", stdout=out)

    assert out.getvalue() == "sync ok: models=414 added=414 repriced=0 retired=0 unchanged=0\n"
    assert CatalogModel.objects.filter(retired_at__isnull=True).count() == 414


@pytest.mark.django_db
def test_a_gzipped_listing_file_is_read_too(tmp_path):
    import gzip

    path = tmp_path / "listing.json.gz"
    path.write_bytes(gzip.compress((DATA / "models-2025-05-23.json").read_bytes()))
    out = io.StringIO()

    call_command("sync_catalog", "--from-file", str(path), stdout=out)

    assert out.getvalue() == "sync ok: models=321 added=321 repriced=0 retired=0 unchanged=0\n"


def test_a_held_sync_exits_non_zero_with_one_line_and_force_applies_it(tmp_path):
    env = {"TOKENLEDGER_DATA_DIR": str(tmp_path), "DATABASE_URL": ""}
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    assert run_manage("sync_catalog", "--seed", env=env).returncode == 0
    short = tmp_path / "short.json"
    short.write_text(
        '[{"id": "openai/gpt-4o", "pricing": {"prompt": "0.0000025", "completion": "0.00001"}},'
        ' {"id": "acme/new", "pricing": {"prompt": "0", "completion": "0"}}]'
    )

    held = run_manage("sync_catalog", "--from-file", str(short), env=env)
    forced = run_manage("sync_catalog", "--from-file", str(short), "--force", env=env)

    assert (held.returncode, held.stdout, held.stderr) == (
        1,
        "",
        "sync held: would retire 413 of 414 models (limit 50%)\n",
    )
    assert (forced.returncode, forced.stderr) == (0, "")
    assert forced.stdout == "sync ok: models=2 added=1 repriced=1 retired=413 unchanged=0\n"
