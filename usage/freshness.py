"""Where the gateway's "configuration version" lives: what admin writes bump and the gateway compares on
every request (usage/services/freshness.py writes it, usage/gateway/freshness.py reads it).

- With Redis (REDIS_URL, or a redis:// CELERY_BROKER_URL): an integer at `<GATEWAY_REDIS_PREFIX>version`,
  raised with INCR and announced on the channel of the same name: every gateway process on every host sees
  it.
- Without: the modification time (nanoseconds, set explicitly, always rising) of `gateway-version` in
  DATA_DIR: one host, a local filesystem.
"""

from __future__ import annotations

from pathlib import Path

VERSION_FILE = "gateway-version"


def version_key(prefix: str) -> str:
    return f"{prefix}version"


def version_file(data_dir: str | Path) -> Path:
    return Path(data_dir) / VERSION_FILE
