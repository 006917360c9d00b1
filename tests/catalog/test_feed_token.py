"""The catalogue-changes Atom feed in a feed reader: a per-user token in the URL (read-only, stored hashed,
revocable, never logged); each sync says where its listing came from; the first import is one line."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.test import Client

from catalog.models import FeedToken
from catalog.services.sync import catalog_load_seed
from catalog.views import sync_source_text
from tests.catalog.page_factories import make_sync_run

pytestmark = pytest.mark.django_db
FEED = "/catalog/changes/feed/"


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("bundled snapshot models-2026-08-19.json.gz", "the bundled snapshot of 2026-08-19"),
        ("https://openrouter.ai/api/v1/models", "OpenRouter's Models API"),
        ("http://127.0.0.1:9/api/v1/models", "the Models API at http://127.0.0.1:9/api/v1/models"),
        ("/srv/listings/models.json", "the file models.json"),
        (
            "held run 3 applied anyway: https://openrouter.ai/api/v1/models",
            "OpenRouter's Models API (held, then applied anyway)",
        ),
    ],
)
def test_each_sync_says_where_its_listing_came_from(source, text):
    assert sync_source_text(source) == text


def test_the_first_import_of_the_bundled_snapshot_is_one_line(client, member):
    catalog_load_seed(now=datetime(2026, 8, 19, 12, 0, tzinfo=UTC))
    client.force_login(member)
    html = client.get("/catalog/changes/").content.decode()
    assert "<summary>initial import: 414 models, from the bundled snapshot of 2026-08-19</summary>" in html
    assert "414 added" not in html


def make_link(client) -> str:
    response = client.post("/catalog/changes/feed-token/", {"action": "create"})
    assert (response.status_code, response["Location"]) == (302, "/catalog/changes/#feed-link")
    html = client.get("/catalog/changes/").content.decode()
    return unescape(re.search(r'id="new-feed-url" value="([^"]+)"', html).group(1))


@pytest.fixture
def runs():
    make_sync_run(started_at=datetime(2026, 5, 1, tzinfo=UTC), changes={"added": ["a/b"]}, models_count=1)


def test_a_feed_link_is_shown_once_and_stored_hashed(client, member, runs):
    client.force_login(member)
    url = make_link(client)
    secret = url.split("?token=", 1)[1]
    assert url == f"http://testserver{FEED}?token={secret}"
    assert re.fullmatch(r"tlfeed_[A-Za-z0-9_-]{32}", secret)
    stored = FeedToken.objects.get(user=member)
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.prefix == secret[:11]
    assert secret not in str(list(FeedToken.objects.values()))
    # a reload shows the link's prefix, never the secret again
    html = client.get("/catalog/changes/").content.decode()
    assert secret not in html and 'id="new-feed-url"' not in html
    assert f'<span class="mono">{stored.prefix}…</span> exists' in html
    assert "never read yet" in html


def test_a_feed_reader_reads_the_feed_with_the_token_and_nothing_else(client, member, runs):
    client.force_login(member)
    url = make_link(client)
    reader = Client()
    response = reader.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    assert response["Cache-Control"] == "private, max-age=300"
    assert b"initial import: 1 models, from the file test" in response.content
    assert FeedToken.objects.get(user=member).last_used_at is not None
    token = url.split("?", 1)[1]
    # read-only: no other page, no other method
    assert reader.get(f"/catalog/changes/?{token}").status_code == 302
    assert reader.get(f"/spend/?{token}").status_code == 302
    assert reader.post(url).status_code == 405
    # no token: the login page; a wrong one: 404
    assert reader.get(FEED)["Location"] == f"/login/?next={FEED}"
    assert reader.get(f"{FEED}?token=tlfeed_nope").status_code == 404
    assert reader.get(f"{FEED}?token=sk-something").status_code == 404


def test_replacing_or_revoking_the_link_stops_the_old_one(client, member, runs):
    client.force_login(member)
    first = make_link(client)
    second = make_link(client)
    reader = Client()
    assert reader.get(first).status_code == 404
    assert reader.get(second).status_code == 200
    response = client.post("/catalog/changes/feed-token/", {"action": "revoke"}, follow=True)
    assert "Feed link revoked: a reader using it gets 404 from now on." in response.content.decode()
    assert reader.get(second).status_code == 404
    assert FeedToken.objects.count() == 0


def test_a_deactivated_users_link_stops_working(client, member, runs):
    client.force_login(member)
    url = make_link(client)
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert Client().get(url).status_code == 404


def test_the_token_is_never_logged(client, member, runs, caplog):
    client.force_login(member)
    url = make_link(client)
    secret = url.split("?token=", 1)[1]
    FeedToken.objects.all().delete()
    with caplog.at_level(logging.DEBUG):
        assert Client().get(url).status_code == 404
    assert any("Not Found: /catalog/changes/feed/" in record.getMessage() for record in caplog.records)
    assert not any(secret in record.getMessage() for record in caplog.records)
