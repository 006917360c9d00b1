"""The endpoint becomes a dimension of the rollups; the ledger gets the finish reason and an index for
GET /generation.

Rollups made before have no endpoint (""): the next rollup run rebuilds every hour whose ledger rows are all
still there (from the first hour the ledger holds whole: an hour that retention cut into keeps its rollups,
as do the hours before it, with endpoint "")."""

from datetime import timedelta

from django.db import migrations, models
from django.db.models import Sum

HOUR = timedelta(hours=1)


def rollups_redo(apps, schema_editor):
    ledger = apps.get_model("usage", "LedgerEntry")
    first = ledger.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return
    hour = first.replace(minute=0, second=0, microsecond=0)
    rows = ledger.objects.filter(created_at__gte=hour, created_at__lt=hour + HOUR).count()
    hourly = apps.get_model("usage", "HourlyRollup")
    rolled = hourly.objects.filter(hour=hour).aggregate(requests=Sum("requests"))["requests"]
    if rolled is not None and rolled != rows:  # retention deleted part of this hour: its rollups stay
        hour += HOUR
    state = apps.get_model("usage", "RollupState")
    state.objects.filter(name="hourly", complete_until__gt=hour).update(complete_until=hour)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_syncrun_held"),
        ("usage", "0019_ledger_cache_savings"),
    ]

    operations = [
        migrations.AddField(
            model_name="dailyrollup",
            name="endpoint",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="hourlyrollup",
            name="endpoint",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="finish_reason",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(fields=["generation_id"], name="ledger_generation_idx"),
        ),
        migrations.RunPython(rollups_redo, migrations.RunPython.noop),
    ]
