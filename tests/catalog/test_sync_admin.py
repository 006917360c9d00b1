"""The catalogue in the admin: lists, filters, prices, and "Sync now" (the schedule: tests/dashboard/test_schedules.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog import tasks
from catalog.models import CatalogModel
from catalog.services.sync import catalog_sync
from tests.catalog.sync_data import entries
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client, admin_user):
    client.login(username="admin", password=PASSWORD)
    catalog_sync(
        payload=entries("models-2026-08-19.json")[:30], source="t", now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    return client


def test_the_admin_lists_and_filters_models_and_shows_their_prices(admin_client_logged_in):
    client = admin_client_logged_in
    first = CatalogModel.objects.order_by("model_id").first()

    assert client.get("/admin/catalog/catalogmodel/", {"q": first.model_id}).status_code == 200
    for query in (
        {"retired": "yes"},
        {"retired": "no"},
        {"author": first.author},
        {"input": "image"},
        {"output": "text"},
    ):
        response = client.get("/admin/catalog/catalogmodel/", query)
        assert response.status_code == 200, query
    images = client.get("/admin/catalog/catalogmodel/", {"input": "image"}).context["cl"].result_count
    assert images == sum(
        "image" in e["architecture"]["input_modalities"] for e in entries("models-2026-08-19.json")[:30]
    )
    detail = client.get(f"/admin/catalog/catalogmodel/{first.pk}/change/")
    assert detail.status_code == 200
    assert "Price versions" in detail.content.decode()
    runs = client.get("/admin/catalog/syncrun/")
    assert runs.status_code == 200
    assert "Sync now" in runs.content.decode()


def test_sync_now_queues_the_task_once_the_transaction_commits(
    admin_client_logged_in, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.sync_catalog, "delay", lambda *a, **k: queued.append(a))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged_in.post("/admin/catalog/syncrun/sync-now/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/catalog/syncrun/"
    assert queued == [()]


def test_the_sync_now_action_on_models_queues_the_task(
    admin_client_logged_in, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.sync_catalog, "delay", lambda *a, **k: queued.append(a))
    pk = CatalogModel.objects.first().pk

    with django_capture_on_commit_callbacks(execute=True):
        admin_client_logged_in.post(
            "/admin/catalog/catalogmodel/", {"action": "sync_now", "_selected_action": [pk]}
        )

    assert queued == [()]


def test_people_who_are_not_staff_cannot_sync(client, member):
    client.login(username="member", password=PASSWORD)

    response = client.post("/admin/catalog/syncrun/sync-now/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
