"""/catalog/changes/ and its Atom feed: what each catalogue sync added, repriced and retired."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import SyncRun
from tests.catalog.page_factories import make_sync_run

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def runs():
    first = make_sync_run(
        started_at=datetime(2026, 5, 1, 1, 49, tzinfo=UTC),
        changes={"added": ["alpha/small", "beta/free"], "repriced": [], "retired": []},
        models_count=2,
    )
    second = make_sync_run(
        started_at=datetime(2026, 8, 19, 20, 1, tzinfo=UTC),
        changes={
            "added": ["gamma/new"],
            "repriced": [
                {
                    "model_id": "alpha/small",
                    "old": {"prompt": "0.00000007", "completion": "0.00000025", "request": "0"},
                    "new": {"prompt": "0.000000108", "completion": "0.00000025", "request": "0.0004"},
                },
                {"model_id": "router/auto", "old": {"prompt": "0.000001"}, "new": {"prompt": None}},
            ],
            "retired": ["beta/free"],
            "returned": ["delta/back"],
        },
        models_count=3,
        unchanged=0,
    )
    SyncRun.objects.create(
        source="x", started_at=datetime(2026, 8, 20, tzinfo=UTC), status=SyncRun.Status.FAILED
    )
    make_sync_run(started_at=datetime(2026, 8, 21, tzinfo=UTC), changes={}, unchanged=3)  # nothing changed
    return first, second


def get(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def test_it_lists_each_sync_that_changed_something_newest_first(client, member, runs):
    html = get(client, member, "/catalog/changes/")
    assert re.findall(r'<section class="card sync-run" id="sync-(\d+)">', html) == [
        str(runs[1].pk),
        str(runs[0].pk),
    ]
    assert "Sync of 2026-08-19 20:01 UTC" in html
    flat = re.sub(r"\s+", " ", html)
    assert "3 models · 1 added · 2 repriced · 1 retired · 0 unchanged · from the file test</p>" in flat


def test_it_shows_added_repriced_retired_and_returned_models(client, member, runs):
    html = get(client, member, "/catalog/changes/")
    second = html.split(f'id="sync-{runs[1].pk}"')[1].split("</section>")[0]
    assert '<li><a href="/models/gamma/new/">gamma/new</a></li>' in second
    assert (
        '<a href="/models/alpha/small/">alpha/small</a>: <span class="change">Input $0.07/1M → $0.108/1M</span>; '
        '<span class="change">Per request $0.00 → $0.0004</span>'
    ) in re.sub(r"\s+", " ", second)
    assert '<span class="change">Input $1.00/1M → variable</span>' in second
    assert "Retired (1)" in second and '<a href="/models/beta/free/">beta/free</a>' in second
    assert "Back in the listing (1)" in second and "delta/back" in second


def test_an_empty_feed_says_so(client, member):
    assert "No catalogue change yet" in get(client, member, "/catalog/changes/")


def test_the_page_is_paginated_with_a_constant_number_of_queries(client, member):
    client.force_login(member)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    make_sync_run(started_at=start, changes={"added": ["a/b"]})
    with CaptureQueriesContext(connection) as one:
        client.get("/catalog/changes/")
    for i in range(1, 12):
        make_sync_run(started_at=start + timedelta(days=i), changes={"added": [f"a/m{i}"] * 3})
    with CaptureQueriesContext(connection) as many:
        html = client.get("/catalog/changes/").content.decode()
    assert len(re.findall(r'class="card sync-run"', html)) == 10
    assert '<a href="?page=2">Older →</a>' in html
    assert len(many) == len(one)
    assert (
        len(re.findall(r'class="card sync-run"', client.get("/catalog/changes/?page=2").content.decode()))
        == 2
    )
    assert client.get("/catalog/changes/?page=nonsense").status_code == 200


def test_the_atom_feed_has_one_entry_per_change(client, member, runs):
    client.force_login(member)
    response = client.get("/catalog/changes/feed/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == [
        "Catalogue sync 2026-08-19 20:01 UTC: 1 added, 2 repriced, 1 retired",
        "Catalogue sync 2026-05-01 01:49 UTC: initial import: 2 models, from the file test",
    ]
    summary = entries[0].find(f"{ATOM}summary").text
    assert summary.startswith("<p>From the file test.</p>")
    assert entries[1].find(f"{ATOM}summary").text == "<p>initial import: 2 models, from the file test.</p>"
    assert "<p>Added: gamma/new</p>" in summary
    assert "<p>Repriced alpha/small: Input $0.07/1M → $0.108/1M; Per request $0.00 → $0.0004</p>" in summary
    assert entries[0].find(f"{ATOM}link").get("href").endswith(f"/catalog/changes/#sync-{runs[1].pk}")


def test_the_pages_link_to_the_feed(client, member, runs):
    html = get(client, member, "/catalog/changes/")
    assert (
        '<link rel="alternate" type="application/atom+xml" title="Catalogue changes" href="/catalog/changes/feed/">'
        in html
    )


def test_the_changes_of_two_real_syncs(client, member):
    from tests.catalog.page_factories import SNAPSHOTS, sync_snapshot

    for name, at in SNAPSHOTS[:2]:
        sync_snapshot(name, at=at)
    html = get(client, member, "/catalog/changes/")
    flat = re.sub(r"\s+", " ", html)
    assert (
        "335 models · 161 added · 69 repriced · 147 retired · 105 unchanged · from the file models-2025-12-02.json"
        in flat
    )
    # the first import is one line (its 321 ids folded away under it)
    assert "<summary>initial import: 321 models, from the file models-2025-05-23.json</summary>" in html
    assert "321 added" not in html
    assert (
        '<a href="/models/meta-llama/llama-3.3-70b-instruct/">meta-llama/llama-3.3-70b-instruct</a>: '
        '<span class="change">Input $0.07/1M → $0.108/1M</span>; <span class="change">Output $0.25/1M → $0.32/1M</span>'
    ) in flat
    assert "$-" not in html and "-1/1M" not in html
