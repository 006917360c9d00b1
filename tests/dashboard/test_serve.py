"""`manage.py serve`: the one command that runs the product."""

import socket

from tests.conftest import ROOT, run_manage


def test_it_refuses_a_port_that_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_manage("serve", "--port", str(port), env={"TOKENLEDGER_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"CommandError: port {port} on 127.0.0.1 is already in use: stop what runs there or pass --port"
    )


def test_it_migrates_and_creates_the_admin_once(tmp_path):
    environment = {"TOKENLEDGER_DATA_DIR": str(tmp_path), "DATABASE_URL": ""}
    first = run_manage("serve", "--prepare-only", "--no-catalogue", env=environment)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "database ready"
    assert lines[1].startswith("created the admin user: log in as  admin / ")
    password = lines[1].rsplit(" ", 1)[1]
    assert len(password) == 16
    check = run_manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.contrib.auth import authenticate; print(authenticate(username='admin', password='{password}'))",
        env=environment,
    )
    assert check.stdout.strip() == "admin"
    second = run_manage("serve", "--prepare-only", "--no-catalogue", env=environment)
    assert (
        second.stdout.splitlines()[1]
        == "log in with your admin user (manage.py changepassword <name> if you forgot it)"
    )
    assert (tmp_path / "db.sqlite3").exists()


def test_offline_it_loads_the_bundled_catalogue_snapshot(tmp_path):
    from tests.conftest import free_port

    environment = {
        "TOKENLEDGER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "OPENROUTER_BASE_URL": f"http://127.0.0.1:{free_port()}/api/v1",
        "CATALOG_FETCH_ATTEMPTS": "1",
    }
    result = run_manage("serve", "--prepare-only", env=environment)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "loading the bundled snapshot" in lines[-2]
    assert lines[-1] == "sync ok: models=414 added=414 repriced=0 retired=0 unchanged=0"
    again = run_manage("serve", "--prepare-only", env=environment)
    assert again.stdout.splitlines()[-1] == "catalogue: 414 models (synced hourly)"
    # The start-up line counts current models only: 2026-05-01's listing retires 142 of the 414.
    older = ROOT / "tests" / "data" / "openrouter" / "models-2026-05-01.data-array.json"
    synced = run_manage("sync_catalog", "--from-file", str(older), env=environment)
    assert synced.stdout == "sync ok: models=371 added=99 repriced=143 retired=142 unchanged=129\n"
    third = run_manage("serve", "--prepare-only", env=environment)
    assert third.stdout.splitlines()[-1] == "catalogue: 371 models (synced hourly)"


def test_only_serve_prints_the_missing_key_warning(tmp_path):
    environment = {"TOKENLEDGER_DATA_DIR": str(tmp_path), "DATABASE_URL": "", "OPENROUTER_API_KEY": ""}
    served = run_manage("serve", "--prepare-only", "--no-catalogue", env=environment)
    assert served.returncode == 0, served.stderr
    assert "?: (tokenledger.W001) OPENROUTER_API_KEY is not set" in served.stderr
    for command in (("check",), ("rollup_ledger",), ("migrate",)):
        quiet = run_manage(*command, env=environment)
        assert quiet.returncode == 0, quiet.stderr
        assert "W001" not in quiet.stdout + quiet.stderr, command
        assert "No hostname was supplied" not in quiet.stderr
    # still a system check, for whoever asks for them all
    assert "tokenledger.W001" in run_manage("check", "--deploy", env=environment).stderr
    keyed = run_manage(
        "serve", "--prepare-only", "--no-catalogue", env=environment | {"OPENROUTER_API_KEY": "sk-or-x"}
    )
    assert "W001" not in keyed.stderr


def test_demo_shows_data_at_once_in_a_separate_data_dir(tmp_path):
    own = tmp_path / "data"
    environment = {
        "TOKENLEDGER_DATA_DIR": str(own),
        # a real ledger configured: the demo must not touch it (it would fail to connect if it tried)
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/real_ledger",
        "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",
    }
    first = run_manage("serve", "--demo", "--prepare-only", env=environment)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == f"demo: data in {tmp_path / 'data-demo'} (separate from your own data dir)"
    assert lines[-2] == "sync ok: models=414 added=414 repriced=0 retired=0 unchanged=0"
    assert lines[-1].startswith("seeded: requests=2000 keys=4 ")
    assert (tmp_path / "data-demo" / "db.sqlite3").exists()
    assert not (own / "db.sqlite3").exists()
    demo_env = {
        "TOKENLEDGER_DATA_DIR": str(tmp_path / "data-demo"),
        "DATABASE_URL": "",
        "CELERY_BROKER_URL": "",
    }
    counted = run_manage(
        "shell", "--no-imports", "-c", "from usage.models import LedgerEntry; print(LedgerEntry.objects.count())",
        env=demo_env,
    )  # fmt: skip
    assert counted.stdout.strip() == "2000"
    again = run_manage("serve", "--demo", "--prepare-only", env=environment)
    assert again.stdout.splitlines()[-1] == "demo: the ledger already has its demo traffic"
