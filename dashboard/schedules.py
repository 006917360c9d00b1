"""Every periodic job in one table, and the one function that puts the table into django-celery-beat.

`schedules_apply()` runs after every `migrate` (a post_migrate handler, connected in DashboardConfig.ready;
`manage.py serve` and compose's `serve --prepare-only` migrate first, so they apply it too). For each job it
remembers the setting it last applied (`AppliedSchedule`), and:

- no PeriodicTask of the job's name: creates it from the setting (`disable`: disabled, on the default cron);
- the setting changed since it was last applied: applies it (crontab and enabled), over any admin edit;
- the setting unchanged: leaves the task exactly as it is, so an edit in the admin wins until the setting
  changes again;
- a task from before this table (made by the old schedule migrations, nothing remembered yet): leaves it as
  it is and remembers the current setting, so an admin edit made then is kept until the setting next changes.

docs/schedules.md says the same for operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import IO

from django.apps import apps as global_apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from dashboard.models import AppliedSchedule

DISABLE = "disable"  # what AppliedSchedule.cron holds for a setting that says `disable`
CRON_TIMEZONE = "UTC"
CRON_FIELDS = (
    "minute",
    "hour",
    "day_of_month",
    "month_of_year",
    "day_of_week",
)  # CrontabSchedule's, in order


@dataclass(frozen=True, slots=True)
class Job:
    name: str  # the PeriodicTask's name: how the job is found again, so keep it
    task: str  # the Celery task
    setting: str  # the *_SCHEDULE setting: a cron string, or None for `disable` (dashboard.env.env_cron)
    default: str  # the setting's default (dashboard/settings.py), and the cron of a job created disabled
    expire_seconds: int
    description: str


JOBS = (
    Job(
        name="Catalogue sync (OpenRouter Models API)",
        task="catalog.sync_catalog",
        setting="CATALOG_SYNC_SCHEDULE",
        default="17 * * * *",
        expire_seconds=50 * 60,
        description="Fetch OpenRouter's Models API and apply it to the catalogue (manage.py sync_catalog).",
    ),
    Job(
        name="Ledger rollups (hourly, catching up)",
        task="usage.rollup_ledger",
        setting="ROLLUP_SCHEDULE",
        default="*/5 * * * *",
        expire_seconds=4 * 60,
        description="Roll up the final hours of the ledger for the spend pages (manage.py rollup_ledger).",
    ),
    Job(
        name="Ledger retention",
        task="usage.prune_ledger",
        setting="RETENTION_SCHEDULE",
        default="40 3 * * *",
        expire_seconds=6 * 60 * 60,
        description=(
            "Delete raw ledger rows older than LEDGER_RETENTION_DAYS; rollups stay (manage.py prune_ledger)."
        ),
    ),
    Job(
        name="Ledger cost reconciliation",
        task="usage.reconcile_ledger",
        setting="RECONCILE_SCHEDULE",
        default="* * * * *",
        expire_seconds=50,
        description=(
            "Replace the estimated costs of cancelled or broken requests with what OpenRouter billed"
            " (GET /generation; manage.py reconcile_ledger)."
        ),
    ),
    Job(
        name="Upstream health probes",
        task="usage.probe_upstreams",
        setting="UPSTREAM_PROBE_SCHEDULE",
        default="*/5 * * * *",
        expire_seconds=4 * 60,
        description=(
            "GET <base_url>/models of each enabled upstream for the status page (manage.py probe_upstreams)."
        ),
    ),
    Job(
        name="Provider endpoints of models with traffic",
        task="usage.sync_provider_endpoints",
        setting="PROVIDER_ENDPOINTS_SCHEDULE",
        default="23 */6 * * *",
        expire_seconds=5 * 60 * 60,
        description=(
            "Fetch per-provider endpoints of models used in the last 7 days"
            " (manage.py sync_provider_endpoints)."
        ),
    ),
    Job(
        name="Alerts (rules evaluated, deliveries retried)",
        task="usage.evaluate_alerts",
        setting="ALERTS_SCHEDULE",
        default="* * * * *",
        expire_seconds=50,
        description=(
            "Evaluate the alert rules and send their alerts, retrying failed deliveries"
            " (manage.py evaluate_alerts)."
        ),
    ),
    Job(
        name="Captured bodies retention",
        task="usage.prune_captures",
        setting="CAPTURE_PRUNE_SCHEDULE",
        default="50 3 * * *",
        expire_seconds=6 * 60 * 60,
        description=(
            "Delete captured request and reply bodies older than CAPTURE_RETENTION_DAYS"
            " (manage.py prune_captures)."
        ),
    ),
)


class Outcome(StrEnum):
    CREATED = "created"  # there was no task: made from the setting
    APPLIED = "applied"  # the setting changed: the task now runs as it says
    UNCHANGED = "unchanged"  # the setting was applied before: the task left as it is
    ADOPTED = "adopted"  # a task from before the table: left as it is, its setting remembered


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    name: str
    outcome: Outcome
    cron: str  # the setting: a cron string or "disable"
    as_set: bool  # the task now runs as the setting says (False: an admin edit is in force)


def schedule_setting(job: Job) -> str:
    """The job's setting as AppliedSchedule remembers it: the cron string (single spaces), or "disable"."""
    cron = getattr(settings, job.setting, job.default)
    return DISABLE if cron is None else " ".join(cron.split())


def schedules_apply() -> list[ScheduleResult]:
    """Create, update or leave each job's PeriodicTask as the module docstring says; one result per job."""
    names = [job.name for job in JOBS]
    now = timezone.now()
    with transaction.atomic():
        applied = {
            row.name: row.cron for row in AppliedSchedule.objects.select_for_update().filter(name__in=names)
        }
        tasks = {
            task.name: task for task in PeriodicTask.objects.select_related("crontab").filter(name__in=names)
        }
        results = [_apply_job(job, task=tasks.get(job.name), last=applied.get(job.name)) for job in JOBS]
        for result in results:
            if result.outcome != Outcome.UNCHANGED:
                AppliedSchedule.objects.update_or_create(
                    name=result.name, defaults={"cron": result.cron, "applied_at": now}
                )
    return results


def _apply_job(job: Job, *, task: PeriodicTask | None, last: str | None) -> ScheduleResult:
    cron = schedule_setting(job)
    if task is None:
        task = PeriodicTask(
            name=job.name,
            task=job.task,
            expire_seconds=job.expire_seconds,
            description=job.description,
        )
        if cron == DISABLE:
            task.crontab = _crontab(job.default)  # so that enabling it in the admin is one click
        _set_schedule(task, cron)
        outcome = Outcome.CREATED
    elif last is None:
        outcome = Outcome.ADOPTED
    elif last != cron:
        _set_schedule(task, cron)
        outcome = Outcome.APPLIED
    else:
        outcome = Outcome.UNCHANGED
    return ScheduleResult(name=job.name, outcome=outcome, cron=cron, as_set=_runs_as_set(task, cron))


def _set_schedule(task: PeriodicTask, cron: str) -> None:
    """Enable the task on `cron` (its only schedule), or disable it keeping its schedule; then save it."""
    if cron == DISABLE:
        task.enabled = False
    else:
        task.crontab = _crontab(cron)
        task.interval = task.solar = task.clocked = None
        task.one_off = False
        task.enabled = True
    task.save()  # the model's save, not update(): its signals tell a running beat to reload


def _crontab(cron: str) -> CrontabSchedule:
    """The crontab row for `cron` in UTC: the oldest if the admin made several, else a new one."""
    fields = dict(zip(CRON_FIELDS, cron.split(), strict=True), timezone=CRON_TIMEZONE)
    existing = CrontabSchedule.objects.filter(**fields).order_by("pk").first()
    return existing or CrontabSchedule.objects.create(**fields)


def _runs_as_set(task: PeriodicTask, cron: str) -> bool:
    if cron == DISABLE:
        return not task.enabled
    crontab = task.crontab
    if not task.enabled or crontab is None or str(crontab.timezone) != CRON_TIMEZONE:
        return False
    return " ".join(getattr(crontab, field) for field in CRON_FIELDS) == cron


def schedules_after_migrate(
    sender,
    *,
    apps=global_apps,
    using: str = DEFAULT_DB_ALIAS,
    verbosity: int = 1,
    stdout: IO[str] | None = None,
    **kwargs,
) -> None:
    """post_migrate handler, for the dashboard app only (so once per migrate, and after a flush)."""
    if using != DEFAULT_DB_ALIAS or not _tables_migrated(apps):
        return
    results = schedules_apply()
    if verbosity >= 1 and stdout is not None:
        for line in filter(None, map(describe, results)):
            stdout.write(line)


def _tables_migrated(apps) -> bool:
    """Whether the migrated state has every column of the models schedules_apply uses (a `migrate` back to
    before django-celery-beat's or dashboard's tables, or part of them, has not)."""
    for model in (PeriodicTask, CrontabSchedule, AppliedSchedule):
        try:
            state = apps.get_model(model._meta.app_label, model._meta.model_name)
        except LookupError:
            return False
        if {f.column for f in model._meta.concrete_fields} - {f.column for f in state._meta.concrete_fields}:
            return False
    return True


def describe(result: ScheduleResult) -> str:
    """The line `migrate` prints for a result worth an operator's eye ("" for the others)."""
    job = next(job for job in JOBS if job.name == result.name)
    if result.outcome == Outcome.CREATED:
        return f"Schedule {job.name!r}: created from {job.setting}={result.cron}."
    if result.outcome == Outcome.APPLIED:
        return f"Schedule {job.name!r}: {job.setting}={result.cron} applied."
    if result.outcome == Outcome.ADOPTED and not result.as_set:
        return (
            f"Schedule {job.name!r}: kept as edited in the admin ({job.setting}={result.cron} is not applied"
            f" until it changes)."
        )
    return ""
