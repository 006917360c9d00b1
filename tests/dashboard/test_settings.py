"""Settings come from the environment; bad values stop start-up with one line naming the variable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dashboard import env
from tests.conftest import run_manage


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sqlite:///data/db.sqlite3", env.DatabaseUrl(engine="sqlite", name="data/db.sqlite3")),
        ("sqlite:////var/lib/tl/db.sqlite3", env.DatabaseUrl(engine="sqlite", name="/var/lib/tl/db.sqlite3")),
        (
            "postgres://tl:p%40ss@db.internal:6543/tokenledger?sslmode=require",
            env.DatabaseUrl(
                engine="postgresql",
                name="tokenledger",
                user="tl",
                password="p@ss",
                host="db.internal",
                port="6543",
                options={"sslmode": "require"},
            ),
        ),
        (
            "postgresql://postgres@127.0.0.1/x",
            env.DatabaseUrl(engine="postgresql", name="x", user="postgres", host="127.0.0.1", options={}),
        ),
    ],
)
def test_it_parses_database_urls(raw, expected):
    assert env.parse_database_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "mysql://root@localhost/x",
            "DATABASE_URL must start with sqlite:// or postgres://; got 'mysql://root@localhost/x'",
        ),
        (
            "postgres://localhost",
            "DATABASE_URL must name a database, e.g. postgres://user@host:5432/tokenledger; got 'postgres://localhost'",
        ),
        (
            "postgres://h:notaport/db",
            "DATABASE_URL has a port that is not a number: 'postgres://h:notaport/db'",
        ),
        (
            "sqlite://",
            "DATABASE_URL must name a database file, e.g. sqlite:///data/db.sqlite3; got 'sqlite://'",
        ),
    ],
)
def test_it_rejects_bad_database_urls(raw, message):
    with pytest.raises(env.ConfigError) as info:
        env.parse_database_url(raw)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "raw",
    ["filesystem://", "redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//", "rediss://h:6380"],
)
def test_it_accepts_broker_urls(raw):
    assert env.parse_broker_url(raw) == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("kafka://x", "CELERY_BROKER_URL must be a redis://, amqp:// or filesystem:// URL; got 'kafka://x'"),
        ("redis://", "CELERY_BROKER_URL must name a host, e.g. redis://127.0.0.1:6379/0; got 'redis://'"),
        ("redis://h:xx/0", "CELERY_BROKER_URL has a port that is not a number: 'redis://h:xx/0'"),
        (
            "redis://h:6379/zero",
            "CELERY_BROKER_URL must end with a database number, e.g. redis://127.0.0.1:6379/0; got 'redis://h:6379/zero'",
        ),
    ],
)
def test_it_rejects_bad_broker_urls(raw, message):
    with pytest.raises(env.ConfigError) as info:
        env.parse_broker_url(raw)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False)]
)
def test_env_bool_reads_the_usual_words(monkeypatch, raw, value):
    monkeypatch.setenv("DEBUG", raw)
    assert env.env_bool("DEBUG", not value) is value


def test_env_bool_fails_loudly_on_anything_else(monkeypatch):
    monkeypatch.setenv("DEBUG", "yes please")
    with pytest.raises(
        env.ConfigError, match=r"^DEBUG must be one of 1/0, true/false, yes/no, on/off; got 'yes please'$"
    ):
        env.env_bool("DEBUG", False)


def test_env_defaults_apply_when_unset(monkeypatch):
    monkeypatch.delenv("GATEWAY_MAX_BODY_BYTES", raising=False)
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    assert env.env_int("GATEWAY_MAX_BODY_BYTES", 10) == 10
    assert env.env_list("ALLOWED_HOSTS", ["localhost"]) == ["localhost"]
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example , b.example ,")
    assert env.env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def test_env_int_rejects_words_and_small_values(monkeypatch):
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "lots")
    with pytest.raises(env.ConfigError, match=r"^GATEWAY_MAX_BODY_BYTES must be a whole number; got 'lots'$"):
        env.env_int("GATEWAY_MAX_BODY_BYTES", 10)
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "5")
    with pytest.raises(env.ConfigError, match=r"^GATEWAY_MAX_BODY_BYTES must be at least 1024; got 5$"):
        env.env_int("GATEWAY_MAX_BODY_BYTES", 10, minimum=1024)


def test_env_decimal_reads_exact_decimals_and_rejects_the_rest(monkeypatch):
    monkeypatch.delenv("CATALOG_SYNC_MAX_TOKEN_PRICE", raising=False)
    assert env.env_decimal("CATALOG_SYNC_MAX_TOKEN_PRICE", "0.01") == Decimal("0.01")
    monkeypatch.setenv("CATALOG_SYNC_MAX_TOKEN_PRICE", " 0.1 ")
    assert env.env_decimal("CATALOG_SYNC_MAX_TOKEN_PRICE", "0.01") == Decimal("0.1")
    for raw in ("cheap", "NaN", "-1"):
        monkeypatch.setenv("CATALOG_SYNC_MAX_TOKEN_PRICE", raw)
        with pytest.raises(env.ConfigError, match=r"^CATALOG_SYNC_MAX_TOKEN_PRICE must be "):
            env.env_decimal("CATALOG_SYNC_MAX_TOKEN_PRICE", "0.01")
    monkeypatch.setenv("CATALOG_SYNC_RAISE_FACTOR", "0.5")
    with pytest.raises(
        env.ConfigError, match=r"^CATALOG_SYNC_RAISE_FACTOR must be a finite number of at least 1; got '0.5'$"
    ):
        env.env_decimal("CATALOG_SYNC_RAISE_FACTOR", "10", minimum=Decimal(1))


def test_cron_settings_accept_disable(monkeypatch):
    monkeypatch.setenv("CATALOG_SYNC_SCHEDULE", "disable")
    assert env.env_cron("CATALOG_SYNC_SCHEDULE", "17 * * * *") is None
    monkeypatch.setenv("CATALOG_SYNC_SCHEDULE", "every hour")
    with pytest.raises(env.ConfigError, match="CATALOG_SYNC_SCHEDULE must be a five-field cron string"):
        env.env_cron("CATALOG_SYNC_SCHEDULE", "17 * * * *")


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = env.secret_key(tmp_path)
    assert len(first) >= 50
    assert env.secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert env.secret_key(tmp_path) == "from-the-environment"


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "DATABASE_URL",
            "mysql://root@localhost/x",
            "configuration error: DATABASE_URL must start with sqlite:// or postgres://; got 'mysql://root@localhost/x'",
        ),
        (
            "CELERY_BROKER_URL",
            "redis//nohost",
            "configuration error: CELERY_BROKER_URL must be a redis://, amqp:// or filesystem:// URL; got 'redis//nohost'",
        ),
        (
            "DEBUG",
            "maybe",
            "configuration error: DEBUG must be one of 1/0, true/false, yes/no, on/off; got 'maybe'",
        ),
    ],
)
def test_a_bad_variable_stops_manage_py_with_one_line(tmp_path, variable, value, line):
    result = run_manage("check", env={variable: value, "TOKENLEDGER_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip() == line
    assert "Traceback" not in result.stdout + result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DEBUG": "0",
            "SECRET_KEY": "k" * 20 + "-production-secret-that-is-long-and-random-enough-1234567890",
            "ALLOWED_HOSTS": "tokenledger.example.com",
            "OPENROUTER_API_KEY": "sk-or-v1-test",
            "TOKENLEDGER_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_settings_switch_to_postgres_and_redis(tmp_path):
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], d['HOST'], d['PORT'], d['CONN_MAX_AGE'], d['OPTIONS']['pool']['max_size']);"
        "print(s.CELERY_BROKER_URL, s.CACHES['default']['BACKEND'])"
    )
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/tl_settings_test",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9",
            "DATABASE_POOL_MAX": "7",
            "TOKENLEDGER_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "django.db.backends.postgresql tl_settings_test 127.0.0.1 5432 0 7",
        "redis://127.0.0.1:6379/9 django.core.cache.backends.redis.RedisCache",
    ]


def test_the_defaults_need_no_server(tmp_path):
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], d['OPTIONS']['transaction_mode']); print(s.CELERY_BROKER_URL, s.DEBUG)"
    )
    environment = {
        "TOKENLEDGER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "CELERY_BROKER_URL": "",
        "DEBUG": "",
    }
    result = run_manage("shell", "--no-imports", "-c", code, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"django.db.backends.sqlite3 {tmp_path / 'db.sqlite3'} IMMEDIATE",
        "filesystem://localhost// False",  # a host: kombu warns "No hostname was supplied" without one
    ]
