"""Typed readers for the environment: every bad value fails loudly with the variable's name."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(ImproperlyConfigured):
    """A setting read from the environment has a value we cannot use."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}; got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number; got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}; got {value}")
    return value


def env_decimal(name: str, default: str, *, minimum: Decimal = Decimal(0)) -> Decimal:
    """An exact decimal (money, prices): never a float."""
    raw = os.environ.get(name)
    text = default if raw is None or not raw.strip() else raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal number; got {raw!r}") from None
    if not value.is_finite() or value < minimum:
        raise ConfigError(f"{name} must be a finite number of at least {minimum}; got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str) -> list[str]:
    """A comma-separated list of IP addresses or networks ("172.18.0.0/16, 10.0.0.5"); none by default."""
    items = env_list(name, [])
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{name} must list IP addresses or networks; got {item!r}") from None
    return items


def env_cron(name: str, default: str) -> str | None:
    """A five-field cron string, or None when the variable says `disable`."""
    raw = env_str(name, default)
    if raw.lower() in {"disable", "disabled", "off", "none"}:
        return None
    if len(raw.split()) != 5:
        raise ConfigError(f"{name} must be a five-field cron string or 'disable'; got {raw!r}")
    return raw


def data_dir(name: str = "TOKENLEDGER_DATA_DIR", default: Path | None = None) -> Path:
    path = Path(env_str(name) or (default or Path.cwd() / "data")).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{name} points at {str(path)!r}, which cannot be created: {exc.strerror}"
        ) from None
    return path


def secret_key(data: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data directory."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    path = data / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class DatabaseUrl:
    engine: str
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: dict[str, str] | None = None


POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def parse_database_url(raw: str, *, name: str = "DATABASE_URL") -> DatabaseUrl:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path.db and sqlite:////absolute/path.db
        path = unquote(parts.netloc + parts.path)
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigError(
                f"{name} must name a database file, e.g. sqlite:///data/db.sqlite3; got {raw!r}"
            )
        return DatabaseUrl(engine="sqlite", name=path)
    if scheme in POSTGRES_SCHEMES:
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname or "/" in dbname:
            raise ConfigError(
                f"{name} must name a database, e.g. postgres://user@host:5432/tokenledger; got {raw!r}"
            )
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{name} has a port that is not a number: {raw!r}") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return DatabaseUrl(
            engine="postgresql",
            name=dbname,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname or "",
            port=str(port or ""),
            options=options,
        )
    raise ConfigError(f"{name} must start with sqlite:// or postgres://; got {raw!r}")


BROKER_SCHEMES = {"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem", "memory"}


def parse_broker_url(raw: str, *, name: str = "CELERY_BROKER_URL") -> str:
    parts = urlsplit(raw)
    if parts.scheme not in BROKER_SCHEMES:
        raise ConfigError(f"{name} must be a redis://, amqp:// or filesystem:// URL; got {raw!r}")
    if parts.scheme in {"redis", "rediss", "amqp", "amqps", "pyamqp"}:
        if not parts.hostname:
            raise ConfigError(f"{name} must name a host, e.g. redis://127.0.0.1:6379/0; got {raw!r}")
        try:
            parts.port  # noqa: B018 - parsing validates the port
        except ValueError:
            raise ConfigError(f"{name} has a port that is not a number: {raw!r}") from None
    if parts.scheme.startswith("redis") and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ConfigError(
            f"{name} must end with a database number, e.g. redis://127.0.0.1:6379/0; got {raw!r}"
        )
    return raw
