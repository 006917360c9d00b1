"""The rollup and retention jobs as Celery tasks with an expiry (their schedules: tests/dashboard/test_schedules.py)."""

from __future__ import annotations

import pytest

from tests.usage.spend_data import NOW, build_ledger
from usage import tasks
from usage.models import HourlyRollup, LedgerEntry

pytestmark = pytest.mark.django_db


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
