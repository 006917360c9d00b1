"""A key's spend as the gateway's budget counts it (usage.selectors.key_spend_since): reported, else computed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.usage.spend_data import NOW, entry, make_key
from usage.models import LedgerEntry
from usage.selectors.keys import key_spend_since

pytestmark = pytest.mark.django_db
D = Decimal


def test_a_key_without_rows_or_without_a_known_cost_spent_exactly_nothing():
    key = make_key("quiet")
    assert key_spend_since(api_key_id=key.pk, since=None) == D(0)

    entry(NOW, api_key=key, status=LedgerEntry.Status.REJECTED, reported_cost=None, computed_cost=None)

    spent = key_spend_since(api_key_id=key.pk, since=None)
    assert (spent, type(spent)) == (D(0), Decimal)


def test_the_reported_cost_counts_else_the_computed_one_and_only_since_the_start():
    key = make_key("busy")
    entry(NOW, api_key=key, reported_cost=D("0.002"), computed_cost=D("0.001"))
    entry(NOW, api_key=key, reported_cost=None, computed_cost=D("0.0005"))
    entry(NOW, api_key=key, reported_cost=D("0"), computed_cost=D("0.3"))  # a reported 0 is a cost
    entry(NOW - timedelta(days=2), api_key=key, reported_cost=D("1"), computed_cost=D("1"))

    assert key_spend_since(api_key_id=key.pk, since=NOW - timedelta(days=1)) == D("0.0025")
    assert key_spend_since(api_key_id=key.pk, since=None) == D("1.0025")
