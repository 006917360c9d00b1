"""The upstream probe and provider-endpoint jobs: scheduled in django-celery-beat from the settings."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import PeriodicTask

pytestmark = pytest.mark.django_db
schedules = import_module("usage.migrations.0006_upstream_schedules")
OURS = ["usage.probe_upstreams", "usage.sync_provider_endpoints"]


def test_migrations_schedule_both_jobs_from_the_settings():
    rows = PeriodicTask.objects.filter(task__in=OURS).order_by("task")
    assert [(t.task, t.crontab.minute, t.crontab.hour, t.enabled, t.expire_seconds) for t in rows] == [
        ("usage.probe_upstreams", "*/5", "*", True, 240),
        ("usage.sync_provider_endpoints", "23", "*/6", True, 18000),
    ]


def test_a_disabled_schedule_creates_the_task_disabled_and_admin_edits_survive(settings):
    PeriodicTask.objects.filter(task__in=OURS).delete()
    settings.UPSTREAM_PROBE_SCHEDULE = None
    settings.PROVIDER_ENDPOINTS_SCHEDULE = "5 2 * * 1"

    schedules.create_schedules(django_apps, None)

    rows = PeriodicTask.objects.filter(task__in=OURS).order_by("task")
    assert [(t.task, t.crontab.minute, t.crontab.hour, t.crontab.day_of_week, t.enabled) for t in rows] == [
        ("usage.probe_upstreams", "*/5", "*", "*", False),
        ("usage.sync_provider_endpoints", "5", "2", "1", True),
    ]
    PeriodicTask.objects.filter(task="usage.probe_upstreams").update(enabled=True)
    schedules.create_schedules(django_apps, None)
    assert PeriodicTask.objects.get(task="usage.probe_upstreams").enabled is True


def test_the_tasks_are_registered_with_an_expiry():
    from dashboard.celery import app

    app.loader.import_default_modules()
    assert app.tasks["usage.probe_upstreams"].expires == 240
    assert app.tasks["usage.sync_provider_endpoints"].expires == 18000
