"""manage.py create_api_key: prints the secret alone on its last line, stores only its hash."""

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from usage.models import ApiKey


def create(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_key_with_its_limits_and_prints_the_secret_last(db, member):
    output = create(
        "--name",
        "ci",
        "--owner",
        "member",
        "--budget",
        "25.5",
        "--period",
        "weekly",
        "--rpm",
        "60",
        "--tpm",
        "100000",
        "--models",
        "openai/*,anthropic/claude-sonnet-4",
        "--expires",
        "2027-01-31",
        "--cache",
        "--capture",
    )

    secret = output.splitlines()[-1]
    key = ApiKey.objects.get()
    assert secret.startswith("tl-") and secret.startswith(key.prefix)
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in key.secret_hash
    assert (key.name, key.owner, key.budget_usd, key.budget_period) == (
        "ci",
        member,
        Decimal("25.5"),
        "weekly",
    )
    assert (key.rpm_limit, key.tpm_limit) == (60, 100000)
    assert key.allowed_models == ["openai/*", "anthropic/claude-sonnet-4"]
    assert key.expires_at == datetime(2027, 1, 31, tzinfo=UTC)
    assert (key.cache_responses, key.capture_bodies) == (True, True)


def test_a_key_captures_nothing_unless_asked(db):
    create("--name", "plain")

    assert ApiKey.objects.get().capture_bodies is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner", "nobody"], "No user named 'nobody'"),
        (["--budget", "lots"], "--budget must be an amount in USD"),
        (["--budget", "0.00001"], "at most 4 decimals"),
        (["--period", "hourly"], "--period must be one of none, daily, weekly, monthly"),
        (["--rpm", "0"], "--rpm must be a whole number from 1"),
        (["--expires", "soon"], "--expires must be a date"),
    ],
)
def test_bad_input_is_one_clear_error(db, args, message):
    with pytest.raises(CommandError, match=message):
        create("--name", "x", *args)
    assert not ApiKey.objects.exists()


def test_a_bad_option_exits_non_zero_with_one_line(tmp_path):
    from tests.conftest import run_manage

    result = run_manage(
        "create_api_key",
        "--name",
        "x",
        "--rpm",
        "many",
        env={"TOKENLEDGER_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"},
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip().splitlines()[-1]
        == "CommandError: --rpm must be a whole number from 1; got 'many'"
    )
