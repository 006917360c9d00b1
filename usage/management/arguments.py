"""Command-line values the usage commands share, parsed into one clear error line each."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.core.management.base import CommandError


def moment(raw: str, *, option: str) -> datetime:
    """A date (midnight UTC) or an ISO time (UTC when it names no zone) given to `option`."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        except ValueError:
            raise CommandError(
                f"{option} must be a date (2027-01-31) or an ISO time (2026-11-30T09:00Z); got {raw!r}"
            ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
