"""Once: created the rollup and retention jobs in django-celery-beat from ROLLUP_SCHEDULE /
RETENTION_SCHEDULE, at the first migrate only.

Now a no-op, kept because applied migrations stay in history. Every periodic job is in one table,
dashboard/schedules.py, applied after each `migrate` (and so at `manage.py serve` start): a changed setting
takes effect without a migration, an admin edit wins until the setting changes again (docs/schedules.md).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0003_dailyrollup"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
