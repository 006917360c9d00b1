"""Each ledger row keeps what its prompt-cache reads saved, at the prices effective for it (tiers and time
windows: catalog.price_schedule); the rollups sum it. Rows already stored get it here: in one UPDATE at
their price version's base prices, then row by row for the versions with overrides."""

from decimal import Decimal

from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery

from catalog.models import PRICE_FIELDS
from catalog.price_schedule import effective_prices
from usage.costs import cache_savings

BATCH = 1000


def backfill(apps, schema_editor):
    PriceVersion = apps.get_model("catalog", "PriceVersion")
    LedgerEntry = apps.get_model("usage", "LedgerEntry")
    priced = PriceVersion.objects.filter(prompt__isnull=False, input_cache_read__gt=0)
    rows = LedgerEntry.objects.filter(cached_tokens__gt=0, price_version__in=priced)
    saving = priced.filter(pk=OuterRef("price_version_id")).values(d=F("prompt") - F("input_cache_read"))
    rows.update(cache_savings=F("cached_tokens") * Subquery(saving[:1]))
    tiered = {version.pk: version for version in priced.exclude(overrides=[])}
    if not tiered:
        return
    changed = []
    for row in (
        rows.filter(price_version_id__in=list(tiered))
        .only("id", "price_version_id", "cached_tokens", "prompt_tokens", "created_at")
        .iterator(chunk_size=BATCH)
    ):
        version = tiered[row.price_version_id]
        base = {name: getattr(version, name) for name in PRICE_FIELDS}
        prices = effective_prices(base, version.overrides, prompt_tokens=row.prompt_tokens, at=row.created_at)
        row.cache_savings = cache_savings(row.cached_tokens, prices)
        changed.append(row)
        if len(changed) == BATCH:
            LedgerEntry.objects.bulk_update(changed, ["cache_savings"])
            changed = []
    LedgerEntry.objects.bulk_update(changed, ["cache_savings"])


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_syncrun_held"),
        ("usage", "0018_ledger_estimated_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="cache_savings",
            field=models.DecimalField(decimal_places=18, default=Decimal(0), max_digits=30),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
