"""Each probe records the base URL it probed, so that the status page's figures start afresh when an
upstream is re-pointed. Probes kept so far are taken as probes of the URL in use now."""

from django.conf import settings
from django.db import migrations, models


def fill_base_url(apps, schema_editor):
    Upstream = apps.get_model("usage", "Upstream")
    UpstreamProbe = apps.get_model("usage", "UpstreamProbe")
    for upstream in Upstream.objects.all():
        url = (upstream.base_url or settings.OPENROUTER_BASE_URL).rstrip("/")[:500]
        UpstreamProbe.objects.filter(upstream_id=upstream.pk).update(base_url=url)


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0022_alerts"),
    ]

    operations = [
        migrations.AddField(
            model_name="upstreamprobe",
            name="base_url",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.RunPython(fill_base_url, migrations.RunPython.noop),
    ]
