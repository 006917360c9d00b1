"""The rollup and retention jobs: Celery tasks with expiry, scheduled in django-celery-beat from settings."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import PeriodicTask

from tests.usage.spend_data import NOW, build_ledger
from usage import tasks
from usage.models import HourlyRollup, LedgerEntry

pytestmark = pytest.mark.django_db
schedules = import_module("usage.migrations.0004_rollup_schedules")
OURS = ["usage.rollup_ledger", "usage.prune_ledger"]


def test_migrations_schedule_both_jobs_from_the_settings():
    rows = PeriodicTask.objects.filter(task__in=OURS).order_by("task")

    assert [(t.task, t.crontab.minute, t.crontab.hour, t.enabled, t.expire_seconds) for t in rows] == [
        ("usage.prune_ledger", "40", "3", True, 21600),
        ("usage.rollup_ledger", "*/5", "*", True, 240),
    ]


def test_a_disabled_schedule_creates_the_task_disabled(settings):
    PeriodicTask.objects.filter(task__in=OURS).delete()
    settings.ROLLUP_SCHEDULE = None
    settings.RETENTION_SCHEDULE = "0 4 * * 0"

    schedules.create_schedules(django_apps, None)

    rows = PeriodicTask.objects.filter(task__in=OURS).order_by("task")
    assert [(t.task, t.crontab.minute, t.crontab.hour, t.crontab.day_of_week, t.enabled) for t in rows] == [
        ("usage.prune_ledger", "0", "4", "0", True),
        ("usage.rollup_ledger", "*/5", "*", "*", False),
    ]


def test_admin_edits_survive_a_rerun():
    task = PeriodicTask.objects.get(task="usage.rollup_ledger")
    task.enabled = False
    task.save()

    schedules.create_schedules(django_apps, None)

    assert PeriodicTask.objects.filter(task="usage.rollup_ledger").get().enabled is False


def test_the_tasks_are_registered_with_an_expiry_and_run_the_services(
    admin_user, member, time_machine, settings
):
    from dashboard.celery import app

    app.loader.import_default_modules()
    assert app.tasks["usage.rollup_ledger"].expires == 240
    assert app.tasks["usage.prune_ledger"].expires == 21600
    time_machine.move_to(NOW, tick=False)
    build_ledger(member=member, admin=admin_user)
    settings.LEDGER_RETENTION_DAYS = 1

    assert tasks.rollup_ledger.apply().get() == 3
    assert HourlyRollup.objects.count() == 3
    time_machine.move_to(NOW.replace(day=1, month=12, hour=10), tick=False)  # a day later, minus 2 h
    assert tasks.prune_ledger.apply().get() == 2
    assert LedgerEntry.objects.count() == 3
