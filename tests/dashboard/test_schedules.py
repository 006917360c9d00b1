"""One table of periodic jobs (dashboard/schedules.py), put into django-celery-beat after every migrate: a
missing task is created from its setting, a changed setting is applied (over an admin edit), an unchanged one
leaves the task to the admin."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from dashboard import schedules
from dashboard.celery import app as celery_app
from dashboard.models import AppliedSchedule
from dashboard.schedules import JOBS, Outcome, schedules_after_migrate, schedules_apply
from tests.conftest import run_manage

pytestmark = pytest.mark.django_db
SYNC = "Catalogue sync (OpenRouter Models API)"
ROLLUPS = "Ledger rollups (hourly, catching up)"
RETENTION = "Ledger retention"
PROBES = "Upstream health probes"
ENDPOINTS = "Provider endpoints of models with traffic"
RECONCILE = "Ledger cost reconciliation"
ALERTS = "Alerts (rules evaluated, deliveries retried)"
CAPTURES = "Captured bodies retention"
DEFAULTS = {
    SYNC: "17 * * * *",
    ROLLUPS: "*/5 * * * *",
    RETENTION: "40 3 * * *",
    RECONCILE: "* * * * *",
    PROBES: "*/5 * * * *",
    ENDPOINTS: "23 */6 * * *",
    ALERTS: "* * * * *",
    CAPTURES: "50 3 * * *",
}


def schedule_of(name: str) -> tuple[str, bool]:
    task = PeriodicTask.objects.select_related("crontab").get(name=name)
    crontab = task.crontab
    fields = (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week)
    return " ".join(fields), task.enabled


def remembered() -> dict[str, str]:
    return dict(AppliedSchedule.objects.values_list("name", "cron"))


def admin_edit(name: str, *, cron: str, enabled: bool) -> None:
    """What saving the task in the admin's Periodic tasks page does."""
    minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
    task = PeriodicTask.objects.get(name=name)
    task.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    task.enabled = enabled
    task.save()


def migrate() -> list[str]:
    """`manage.py migrate` (nothing left to migrate): the lines it printed about schedules."""
    out = StringIO()
    call_command("migrate", interactive=False, stdout=out)
    return [line for line in out.getvalue().splitlines() if line.startswith("Schedule ")]


def outcomes(results) -> list[tuple[str, Outcome, str, bool]]:
    return [(r.name, r.outcome, r.cron, r.as_set) for r in results]


def test_migrate_schedules_every_job_from_its_setting():
    rows = PeriodicTask.objects.filter(name__in=DEFAULTS).order_by("name")

    assert [(t.name, t.task, t.enabled, t.expire_seconds, t.description) for t in rows] == [
        (
            ALERTS,
            "usage.evaluate_alerts",
            True,
            50,
            "Evaluate the alert rules and send their alerts, retrying failed deliveries"
            " (manage.py evaluate_alerts).",
        ),
        (
            CAPTURES,
            "usage.prune_captures",
            True,
            21600,
            "Delete captured request and reply bodies older than CAPTURE_RETENTION_DAYS (manage.py prune_captures).",
        ),
        (
            SYNC,
            "catalog.sync_catalog",
            True,
            3000,
            "Fetch OpenRouter's Models API and apply it to the catalogue (manage.py sync_catalog).",
        ),
        (
            RECONCILE,
            "usage.reconcile_ledger",
            True,
            50,
            "Replace the estimated costs of cancelled or broken requests with what OpenRouter billed"
            " (GET /generation; manage.py reconcile_ledger).",
        ),
        (
            RETENTION,
            "usage.prune_ledger",
            True,
            21600,
            "Delete raw ledger rows older than LEDGER_RETENTION_DAYS; rollups stay (manage.py prune_ledger).",
        ),
        (
            ROLLUPS,
            "usage.rollup_ledger",
            True,
            240,
            "Roll up the final hours of the ledger for the spend pages (manage.py rollup_ledger).",
        ),
        (
            ENDPOINTS,
            "usage.sync_provider_endpoints",
            True,
            18000,
            "Fetch per-provider endpoints of models used in the last 7 days (manage.py sync_provider_endpoints).",
        ),
        (
            PROBES,
            "usage.probe_upstreams",
            True,
            240,
            "GET <base_url>/models of each enabled upstream for the status page (manage.py probe_upstreams).",
        ),
    ]
    assert {name: schedule_of(name) for name in DEFAULTS} == {
        name: (cron, True) for name, cron in DEFAULTS.items()
    }
    assert {str(t.crontab.timezone) for t in rows} == {"UTC"}
    assert remembered() == DEFAULTS


def test_every_job_runs_a_registered_task_that_expires_as_its_schedule_does():
    celery_app.loader.import_default_modules()

    assert [(job.task, job.expire_seconds, celery_app.tasks[job.task].expires) for job in JOBS] == [
        ("catalog.sync_catalog", 3000, 3000),
        ("usage.rollup_ledger", 240, 240),
        ("usage.prune_ledger", 21600, 21600),
        ("usage.reconcile_ledger", 50, 50),
        ("usage.probe_upstreams", 240, 240),
        ("usage.sync_provider_endpoints", 18000, 18000),
        ("usage.evaluate_alerts", 50, 50),
        ("usage.prune_captures", 21600, 21600),
    ]


def test_the_table_defaults_are_the_settings_defaults(tmp_path):
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; from dashboard.schedules import JOBS; "
        "print([(job.setting, getattr(settings, job.setting), job.default) for job in JOBS])",
        env={"TOKENLEDGER_DATA_DIR": str(tmp_path), "DATABASE_URL": ""},
    )

    assert result.stdout.strip() == str(
        [
            ("CATALOG_SYNC_SCHEDULE", "17 * * * *", "17 * * * *"),
            ("ROLLUP_SCHEDULE", "*/5 * * * *", "*/5 * * * *"),
            ("RETENTION_SCHEDULE", "40 3 * * *", "40 3 * * *"),
            ("RECONCILE_SCHEDULE", "* * * * *", "* * * * *"),
            ("UPSTREAM_PROBE_SCHEDULE", "*/5 * * * *", "*/5 * * * *"),
            ("PROVIDER_ENDPOINTS_SCHEDULE", "23 */6 * * *", "23 */6 * * *"),
            ("ALERTS_SCHEDULE", "* * * * *", "* * * * *"),
            ("CAPTURE_PRUNE_SCHEDULE", "50 3 * * *", "50 3 * * *"),
        ]
    )


def test_a_missing_task_is_created_from_its_setting_and_disable_creates_it_disabled(settings):
    PeriodicTask.objects.all().delete()  # as on a new database, or after a delete in the admin
    settings.ROLLUP_SCHEDULE = None
    settings.RETENTION_SCHEDULE = "0  4 * * 0"

    results = schedules_apply()

    assert outcomes(results) == [
        (SYNC, Outcome.CREATED, "17 * * * *", True),
        (ROLLUPS, Outcome.CREATED, "disable", True),
        (RETENTION, Outcome.CREATED, "0 4 * * 0", True),
        (RECONCILE, Outcome.CREATED, "* * * * *", True),
        (PROBES, Outcome.CREATED, "*/5 * * * *", True),
        (ENDPOINTS, Outcome.CREATED, "23 */6 * * *", True),
        (ALERTS, Outcome.CREATED, "* * * * *", True),
        (CAPTURES, Outcome.CREATED, "50 3 * * *", True),
    ]
    assert schedule_of(ROLLUPS) == ("*/5 * * * *", False)  # its default cron: enabling it is one click
    assert schedule_of(RETENTION) == ("0 4 * * 0", True)
    assert remembered() == {**DEFAULTS, ROLLUPS: "disable", RETENTION: "0 4 * * 0"}


def test_migrate_applies_a_changed_setting_over_an_admin_edit(settings):
    admin_edit(ROLLUPS, cron="0 * * * *", enabled=False)
    admin_edit(SYNC, cron="0 0 * * *", enabled=True)
    settings.ROLLUP_SCHEDULE = "*/10 * * * *"
    settings.CATALOG_SYNC_SCHEDULE = None

    printed = migrate()

    assert schedule_of(ROLLUPS) == ("*/10 * * * *", True)
    assert schedule_of(SYNC) == ("0 0 * * *", False)  # disabled, on the cron it had
    assert remembered() == {**DEFAULTS, ROLLUPS: "*/10 * * * *", SYNC: "disable"}
    assert printed == [
        "Schedule 'Catalogue sync (OpenRouter Models API)': CATALOG_SYNC_SCHEDULE=disable applied.",
        "Schedule 'Ledger rollups (hourly, catching up)': ROLLUP_SCHEDULE=*/10 * * * * applied.",
    ]


def test_a_changed_setting_replaces_an_interval_or_one_off_schedule_and_reuses_a_crontab_row(settings):
    task = PeriodicTask.objects.get(name=PROBES)
    task.crontab = None
    task.interval = IntervalSchedule.objects.create(every=30, period="seconds")
    task.one_off = True
    task.save()
    every_2_min = {
        "minute": "*/2",
        "hour": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "*",
    }
    first, _ = CrontabSchedule.objects.create(**every_2_min), CrontabSchedule.objects.create(**every_2_min)
    settings.UPSTREAM_PROBE_SCHEDULE = "*/2 * * * *"

    schedules_apply()

    task = PeriodicTask.objects.get(name=PROBES)
    assert (task.interval, task.one_off, task.crontab_id) == (None, False, first.pk)
    assert schedule_of(PROBES) == ("*/2 * * * *", True)


def test_migrate_keeps_an_admin_edit_while_the_setting_is_unchanged():
    admin_edit(ROLLUPS, cron="0 * * * *", enabled=False)
    admin_edit(PROBES, cron="*/5 * * * *", enabled=False)

    printed = migrate()

    assert schedule_of(ROLLUPS) == ("0 * * * *", False)
    assert schedule_of(PROBES) == ("*/5 * * * *", False)
    assert remembered() == DEFAULTS
    assert printed == []


def test_an_admin_edit_wins_until_the_setting_changes_again(settings):
    settings.RETENTION_SCHEDULE = "0 2 * * *"
    first = schedules_apply()
    admin_edit(RETENTION, cron="30 1 * * *", enabled=True)
    kept = schedules_apply()
    settings.RETENTION_SCHEDULE = "0 5 * * *"
    changed = schedules_apply()

    assert [r.outcome for r in first if r.name == RETENTION] == [Outcome.APPLIED]
    assert [(r.outcome, r.as_set) for r in kept if r.name == RETENTION] == [(Outcome.UNCHANGED, False)]
    assert [(r.outcome, r.as_set) for r in changed if r.name == RETENTION] == [(Outcome.APPLIED, True)]
    assert schedule_of(RETENTION) == ("0 5 * * *", True)


def test_a_database_from_the_schedule_migrations_keeps_its_tasks_and_remembers_the_settings(settings):
    # Upgraded from when migrations made the tasks: they exist, nothing is remembered. One was edited in
    # the admin then, and one setting was changed then (which those migrations never read again).
    AppliedSchedule.objects.all().delete()
    admin_edit(RETENTION, cron="0 5 * * *", enabled=True)
    settings.ROLLUP_SCHEDULE = "*/15 * * * *"

    printed = migrate()

    assert {name: schedule_of(name) for name in DEFAULTS} == {
        **{name: (cron, True) for name, cron in DEFAULTS.items()},
        RETENTION: ("0 5 * * *", True),
    }
    assert remembered() == {**DEFAULTS, ROLLUPS: "*/15 * * * *"}
    assert printed == [
        "Schedule 'Ledger rollups (hourly, catching up)': kept as edited in the admin"
        " (ROLLUP_SCHEDULE=*/15 * * * * is not applied until it changes).",
        "Schedule 'Ledger retention': kept as edited in the admin"
        " (RETENTION_SCHEDULE=40 3 * * * is not applied until it changes).",
    ]

    settings.ROLLUP_SCHEDULE = "*/20 * * * *"
    assert outcomes(schedules_apply())[1] == (ROLLUPS, Outcome.APPLIED, "*/20 * * * *", True)
    assert schedule_of(ROLLUPS) == ("*/20 * * * *", True)


def test_applying_twice_changes_nothing_the_second_time(settings, time_machine):
    time_machine.move_to(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=False)
    settings.ROLLUP_SCHEDULE = "*/7 * * * *"
    settings.PROVIDER_ENDPOINTS_SCHEDULE = None
    schedules_apply()

    def state():
        return (
            list(PeriodicTask.objects.order_by("name").values()),
            list(CrontabSchedule.objects.order_by("pk").values()),
            list(AppliedSchedule.objects.order_by("name").values()),
            PeriodicTasks.last_change(),
        )

    before = state()
    time_machine.shift(60)
    second = schedules_apply()

    assert [r.outcome for r in second] == [Outcome.UNCHANGED] * 8
    assert state() == before
    assert AppliedSchedule.objects.get(name=ROLLUPS).applied_at == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_serve_applies_the_settings_once_at_start(settings, monkeypatch):
    calls = []
    apply = schedules.schedules_apply
    monkeypatch.setattr(schedules, "schedules_apply", lambda: calls.append(1) or apply())
    settings.PROVIDER_ENDPOINTS_SCHEDULE = "0 */2 * * *"

    call_command("serve", "--prepare-only", "--no-catalogue", stdout=StringIO())

    assert calls == [1]
    assert schedule_of(ENDPOINTS) == ("0 */2 * * *", True)


@pytest.mark.parametrize(
    "migrated_to",
    [
        [("django_celery_beat", "0019_alter_periodictasks_options")],  # no dashboard table yet
        [("dashboard", "0001_initial")],  # no django-celery-beat tables
        [
            ("django_celery_beat", "0011_auto_20190508_0153"),
            ("dashboard", "0001_initial"),
        ],  # no expire_seconds
    ],
)
def test_after_a_migrate_that_leaves_the_tables_behind_nothing_is_applied(migrated_to, settings):
    state = MigrationLoader(connection).project_state(migrated_to)
    settings.ROLLUP_SCHEDULE = "*/9 * * * *"

    schedules_after_migrate(sender=None, apps=state.apps, verbosity=0)

    assert schedule_of(ROLLUPS) == ("*/5 * * * *", True)
    assert remembered() == DEFAULTS
