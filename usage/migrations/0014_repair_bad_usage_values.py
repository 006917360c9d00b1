"""Set aside the bad usage values stored before the gateway vetted them (usage/services/ledger_repair.py):
costs that are not finite, negative or above the ceiling, token counts beyond 2³¹. The next rollup run
rebuilds the hours they touched."""

from django.conf import settings
from django.db import migrations


def repair(apps, schema_editor):
    from usage.services.ledger_repair import bad_rows_repair, rollups_redo_from

    fixed = bad_rows_repair(schema_editor.connection, max_cost=settings.GATEWAY_MAX_REQUEST_COST)
    if fixed:
        ledger = apps.get_model("usage", "LedgerEntry")
        since = (
            ledger.objects.filter(pk__in=fixed).order_by("created_at").values_list("created_at", flat=True)[0]
        )
        rollups_redo_from(since, apps.get_model("usage", "RollupState"))


class Migration(migrations.Migration):
    dependencies = [("usage", "0013_cache_write_1h")]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
