"""404 and 500 pages in the site's layout, the favicon, and the admin's name and model names."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_a_404_in_the_sites_layout(client, member):
    client.force_login(member)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Not found · Tokenledger</title>" in html
    assert '<a class="brand" href="/">Token<span>ledger</span></a>' in html
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html
    assert re.search(r'<nav class="nav">.*?<a href="/spend/">Spend</a>', html, re.S)
    assert "There is no page at <code>/no/such/page/</code>." in html
    assert "Resolver404" not in html


def test_a_404_from_a_view_says_what_was_not_found(client, member):
    client.force_login(member)
    response = client.get("/models/nobody/nothing/")
    assert response.status_code == 404
    assert '<span class="muted">No model nobody/nothing in the catalogue.</span>' in response.content.decode()


def test_the_500_page_uses_the_layout_without_a_request_context_or_the_database():
    request = RequestFactory().get("/spend/")
    with CaptureQueriesContext(connection) as queries:
        response = server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "<title>Server error · Tokenledger</title>" in html
    assert '<a class="brand" href="/">Token<span>ledger</span></a>' in html
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html
    assert '<p class="card error" id="server-error">The server could not show this page.' in html
    assert '<nav class="nav">' not in html
    assert len(queries) == 0


def test_every_page_links_the_favicon_and_the_old_path_leads_to_it(client):
    html = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/favicon.svg")
    assert client.get("/static/favicon.svg").status_code == 200


def test_the_admin_is_branded_and_names_its_models_plainly(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/admin/").content.decode()
    assert "<title>Catalogue, keys, upstreams and schedules | Tokenledger admin</title>" in html
    assert '<a href="/admin/">Tokenledger admin</a>' in html
    assert '<a href="/admin/usage/ledgerentry/">Ledger entries</a>' in html
    assert '<a href="/admin/usage/apikey/">API keys</a>' in html
