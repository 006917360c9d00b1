"""Budget periods: when a key's period began and when it resets (UTC days, ISO weeks, calendar months)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def period_start(period: str, now: datetime) -> datetime | None:
    """The start of the period `now` falls in; None for "none" (the key's whole life)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return None


def period_end(period: str, start: datetime | None) -> datetime | None:
    """When the period that began at `start` resets; None when it never does."""
    if start is None:
        return None
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)
