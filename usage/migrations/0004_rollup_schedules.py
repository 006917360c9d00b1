"""The rollup and retention jobs in django-celery-beat, from ROLLUP_SCHEDULE / RETENTION_SCHEDULE.

The same mechanism as the catalogue sync (catalog/migrations/0003_sync_schedule.py): created once, later
edits in the admin are kept; `disable` creates the task disabled, so turning it on is one click in the admin.
"""

from django.conf import settings
from django.db import migrations

# name, task, setting, default cron, expire seconds, description
SCHEDULES = (
    (
        "Ledger rollups (hourly, catching up)",
        "usage.rollup_ledger",
        "ROLLUP_SCHEDULE",
        "*/5 * * * *",
        4 * 60,
        "Roll up the final hours of the ledger for the spend pages (manage.py rollup_ledger).",
    ),
    (
        "Ledger retention",
        "usage.prune_ledger",
        "RETENTION_SCHEDULE",
        "40 3 * * *",
        6 * 60 * 60,
        "Delete raw ledger rows older than LEDGER_RETENTION_DAYS; rollups stay (manage.py prune_ledger).",
    ),
)


def create_schedules(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, setting, default, expire_seconds, description in SCHEDULES:
        if task_model.objects.filter(name=name).exists():
            continue
        cron = getattr(settings, setting, default)
        minute, hour, day_of_month, month_of_year, day_of_week = (cron or default).split()
        crontab, _ = crontab_model.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone="UTC",
        )
        task_model.objects.create(
            name=name,
            task=task,
            crontab=crontab,
            enabled=cron is not None,
            expire_seconds=expire_seconds,
            description=description,
        )


def remove_schedules(apps, schema_editor):
    names = [name for name, *_ in SCHEDULES]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0003_dailyrollup"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
