"""Every dashboard page sends an anonymous visitor to the login page."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

PUBLIC = {"login", "logout", "healthz", "favicon"}


def page_paths(resolver=None, prefix=""):
    """Every URL without arguments, admin excluded (it has its own login)."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue
            yield from page_paths(entry, route)
        elif isinstance(entry, URLPattern) and entry.name not in PUBLIC and "<" not in route:
            yield "/" + route.lstrip("^").rstrip("$")


def test_there_are_pages_to_check():
    assert "/" in set(page_paths())


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(set(page_paths())))
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.django_db
def test_logging_in_shows_the_home_page_with_navigation(client, member):
    from tests.conftest import PASSWORD

    response = client.post("/login/", {"username": "member", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert b"Log out member" in page.content


@pytest.mark.django_db
def test_the_admin_asks_for_staff_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


@pytest.mark.django_db
def test_the_admin_works_for_an_admin(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
