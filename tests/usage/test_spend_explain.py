"""On PostgreSQL the request log's queries are served by the ledger's indexes (EXPLAIN), never a full scan.

Skipped on SQLite. bench/spend_pages.py prints the same plans at millions of rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Q

from tests.usage.spend_data import make_key
from usage.models import LedgerEntry
from usage.selectors import activity as activity_log
from usage.selectors import activity_count

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="query plans are checked on PostgreSQL"),
]
START = datetime(2026, 11, 1, tzinfo=UTC)
ROWS = 20_000


@pytest.fixture
def ledger(admin_user, member):
    keys = [make_key(f"k{i}", member if i == 0 else admin_user) for i in range(8)]
    LedgerEntry.objects.bulk_create(
        (
            LedgerEntry(
                api_key=keys[0] if i % 100 == 0 else keys[1 + i % 7],  # the member's key: 1 % of rows
                created_at=START + timedelta(minutes=2 * i),
                requested_model="m",
                served_model=f"model-{i % 5}",
                provider="p",
                http_status=200,
                status="ok" if i % 50 else "error",
            )
            for i in range(ROWS)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_ledgerentry")
    return keys


def plan(queryset) -> str:
    return queryset.explain()


def test_the_first_and_a_deep_page_walk_the_recent_index(admin_user, ledger):
    log = activity_log.activity_queryset(user=admin_user, filters=activity_log.ActivityFilters())
    newest = log.order_by("-created_at", "-id")
    moment, entry_id = START + timedelta(days=3), 2000  # a cursor, as activity_page applies it

    first = plan(newest[:51])
    deep = plan(
        newest.filter(created_at__lte=moment).filter(Q(created_at__lt=moment) | Q(id__lt=entry_id))[:51]
    )

    assert "Index Scan using ledger_recent_idx" in first
    assert "Index Scan using ledger_recent_idx" in deep and "Index Cond" in deep
    assert "Seq Scan" not in first + deep


def test_a_members_log_and_a_key_filter_use_the_key_index(member, ledger):
    own = activity_log.activity_queryset(user=member, filters=activity_log.ActivityFilters(api_key=ledger[0]))

    text = plan(own.order_by("-created_at", "-id")[:51])

    assert "ledger_key_recent_idx" in text
    assert "Seq Scan on usage_ledgerentry" not in text


def test_the_current_hour_aggregate_reads_a_range_of_the_time_index(admin_user, ledger):
    from usage.selectors.rollups import ledger_grouped

    tail = LedgerEntry.objects.filter(created_at__gte=START + timedelta(days=27, hours=18))

    text = plan(ledger_grouped(tail, "api_key_id", "model", "provider", "status"))

    assert "ledger_recent_idx" in text
    assert "Seq Scan on usage_ledgerentry" not in text


def test_part_of_a_model_id_reads_the_model_index_by_exact_ids(admin_user, ledger):
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            api_key=ledger[1],
            created_at=START + timedelta(hours=7 * i),
            requested_model="rare/model-x-large",
            served_model="rare/model-x-large",
            http_status=200,
            status="ok",
        )
        for i in range(20)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_ledgerentry")
    log = activity_log.activity_queryset(
        user=admin_user, filters=activity_log.ActivityFilters(model="X-LARGE")
    )

    page = plan(log.order_by("-created_at", "-id")[:51])
    count = plan(log.order_by().values("id")[: activity_count.COUNT_LIMIT + 1])

    assert log.count() == 20
    for text in (page, count):
        assert "ledger_model_name_idx" in text
        assert "Seq Scan on usage_ledgerentry" not in text and "~~" not in text  # no LIKE over the ledger
