"""The upstream probe and provider-endpoint jobs in django-celery-beat, from UPSTREAM_PROBE_SCHEDULE /
PROVIDER_ENDPOINTS_SCHEDULE: the same mechanism as 0004_rollup_schedules (created once, admin edits kept,
`disable` creates the task disabled).
"""

from django.conf import settings
from django.db import migrations

SCHEDULES = (
    (
        "Upstream health probes",
        "usage.probe_upstreams",
        "UPSTREAM_PROBE_SCHEDULE",
        "*/5 * * * *",
        4 * 60,
        "GET <base_url>/models of each enabled upstream for the status page (manage.py probe_upstreams).",
    ),
    (
        "Provider endpoints of models with traffic",
        "usage.sync_provider_endpoints",
        "PROVIDER_ENDPOINTS_SCHEDULE",
        "23 */6 * * *",
        5 * 60 * 60,
        "Fetch per-provider endpoints of models used in the last 7 days (manage.py sync_provider_endpoints).",
    ),
)


def create_schedules(apps, schema_editor):
    # As in 0004_rollup_schedules (migrations stay self-contained: no import of app code that may change).
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
        ("usage", "0005_upstreams"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
