"""The hourly catalogue sync in django-celery-beat, from CATALOG_SYNC_SCHEDULE (editable in the admin after).

Created once: later edits in the admin are kept. `disable` creates the task disabled, so turning it on is
one click in the admin.
"""

from django.conf import settings
from django.db import migrations

TASK_NAME = "Catalogue sync (OpenRouter Models API)"
DEFAULT_CRON = "17 * * * *"


def create_schedule(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    if task_model.objects.filter(name=TASK_NAME).exists():
        return
    cron = getattr(settings, "CATALOG_SYNC_SCHEDULE", DEFAULT_CRON)
    minute, hour, day_of_month, month_of_year, day_of_week = (cron or DEFAULT_CRON).split()
    crontab, _ = crontab_model.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    task_model.objects.create(
        name=TASK_NAME,
        task="catalog.sync_catalog",
        crontab=crontab,
        enabled=cron is not None,
        expire_seconds=50 * 60,
        description="Fetch OpenRouter's Models API and apply it to the catalogue (manage.py sync_catalog).",
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_synclock"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
