"""Writes of the ledger: the rows the gateway's writer records (one per request of a known key), and the
counts of requests refused without a known key."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from operator import attrgetter
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import F

from usage.models import ApiKey, KeylessRefusal, LedgerEntry
from usage.selectors.rollups import HOUR, floor_hour, rollups_complete_until
from usage.services.rollups import rollup_rebuild

# The ledger insert, prepared once per database. bulk_create prepares every field of every row through the
# model layer (~60 µs a row); the gateway's writer does a few thousand rows a second, so it passes plain
# values through and adapts only what the driver cannot take as it is, the way Django's fields would:
# datetimes (SQLite stores them as UTC text) and JSON. Decimals go as they are (Django's SQLite backend
# registers their adapter; psycopg takes them).
_INSERTS: dict[str, tuple[str, tuple[str, ...], tuple[tuple[int, Callable[[Any], Any]], ...]]] = {}


def _ledger_insert(connection) -> tuple[str, tuple[str, ...], tuple[tuple[int, Callable[[Any], Any]], ...]]:
    plan = _INSERTS.get(connection.vendor)
    if plan is None:
        fields = [field for field in LedgerEntry._meta.concrete_fields if not field.primary_key]
        quote = connection.ops.quote_name
        table = quote(LedgerEntry._meta.db_table)
        columns = ", ".join(quote(field.column) for field in fields)
        if connection.vendor == "postgresql":
            sql = f"COPY {table} ({columns}) FROM STDIN"
        else:
            values = ", ".join(["%s"] * len(fields))
            sql = f"INSERT INTO {table} ({columns}) VALUES ({values})"  # noqa: S608 (the model's names)
        ops = connection.ops
        adapt = {
            "DateTimeField": _sqlite_time(connection)
            if connection.vendor == "sqlite"
            else ops.adapt_datetimefield_value,
            "JSONField": (lambda value: orjson.dumps(value).decode())
            if connection.vendor == "sqlite"
            else partial(ops.adapt_json_value, encoder=None),
        }
        adapters = tuple(
            (index, adapt[field.get_internal_type()])
            for index, field in enumerate(fields)
            if field.get_internal_type() in adapt
        )
        plan = _INSERTS[connection.vendor] = (sql, tuple(field.attname for field in fields), adapters)
    return plan


def _sqlite_time(connection) -> Callable[[datetime], str]:
    """Django's adapt_datetimefield_value for SQLite (UTC text in the connection's zone), for the aware
    datetimes the gateway's rows hold: in a third of its time, without its per-call settings reads."""
    zone, django_adapt = connection.timezone, connection.ops.adapt_datetimefield_value

    def adapt(value: datetime) -> str:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return str(value.astimezone(zone).replace(tzinfo=None))
        return django_adapt(value)

    return adapt


def ledger_record_many(*, rows: Sequence[Any]) -> int:
    """Write gateway ledger rows in one transaction; each row has an attribute per LedgerEntry column, by
    attname (`api_key_id`, `price_version_id`...): the gateway's LedgerRow.

    Also moves each key's last_used_at forward to its newest row (rejections don't count as use). Returns
    the number of rows written.
    """
    if not rows:
        return 0
    sql, names, adapters = _ledger_insert(connection)
    adapt_time = connection.ops.adapt_datetimefield_value
    values_of = attrgetter(*names)
    params = []
    last_used: dict[int, datetime] = {}
    for row in rows:
        values = list(values_of(row))
        for index, adapt in adapters:
            values[index] = adapt(values[index])
        params.append(values)
        key_id = row.api_key_id
        if key_id is not None and row.status != LedgerEntry.Status.REJECTED:
            previous = last_used.get(key_id)
            if previous is None or row.created_at > previous:
                last_used[key_id] = row.created_at
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY: a fraction of the server's work of row-by-row INSERTs
            with cursor.copy(sql) as copy:
                for values in params:
                    copy.write_row(values)
        else:
            cursor.executemany(sql, params)
        if last_used:  # plain SQL: the ORM's update cost more than the batch's insert (one per ~2 ms batch)
            cursor.executemany(
                _last_used_sql(connection),
                [(adapt_time(when), key_id, adapt_time(when)) for key_id, when in last_used.items()],
            )
    return len(params)


def _last_used_sql(connection) -> str:
    quote = connection.ops.quote_name
    table, column = quote(ApiKey._meta.db_table), quote("last_used_at")
    return (
        f"UPDATE {table} SET {column} = %s WHERE {quote('id')} = %s AND ({column} IS NULL OR {column} < %s)"  # noqa: S608
    )


def ledger_record_missing(*, rows: Sequence[Any]) -> int:
    """Write the rows whose `request_id` the ledger does not have yet (once each), in one transaction: a
    replay of the gateway's journal, which may hold rows already written. Hours already rolled up that get
    a row are rolled up again. Returns the rows written."""
    by_id = {row.request_id: row for row in rows if row.request_id}
    ids = list(by_id)
    with transaction.atomic():
        for start in range(0, len(ids), 500):  # SQLite's limit on query parameters
            present = LedgerEntry.objects.filter(request_id__in=ids[start : start + 500])
            for request_id in present.values_list("request_id", flat=True):
                del by_id[request_id]
        written = ledger_record_many(rows=list(by_id.values()))
        rolled_until = rollups_complete_until()
        if rolled_until is not None:
            hours = {floor_hour(row.created_at) for row in by_id.values() if row.created_at < rolled_until}
            for hour in sorted(hours):
                rollup_rebuild(start=hour, end=hour + HOUR)
    return written


def keyless_refusals_add(*, counts: Mapping[tuple[datetime, str], int]) -> None:
    """Add gateway refusals of requests without a known key to their (minute, reason) counters."""
    with transaction.atomic():
        for (minute, reason), count in counts.items():
            updated = KeylessRefusal.objects.filter(minute=minute, reason=reason).update(
                count=F("count") + count
            )
            if not updated:
                KeylessRefusal.objects.bulk_create(
                    [KeylessRefusal(minute=minute, reason=reason, count=0)], ignore_conflicts=True
                )
                KeylessRefusal.objects.filter(minute=minute, reason=reason).update(count=F("count") + count)
