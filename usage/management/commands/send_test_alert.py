"""Send a test alert to one channel now, and say whether it arrived."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from usage.services.alerts.delivery import alert_test


class Command(BaseCommand):
    help = "Send a test alert to the channel named --channel and print the delivery's outcome."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="The channel's name")

    def handle(self, *args, **options):
        delivery = alert_test(channel_name=options["channel"])
        if delivery is None:
            raise CommandError(f"No alert channel named {options['channel']!r}.")
        if delivery.status != "sent":
            raise CommandError(f"test alert to {options['channel']} failed: {delivery.error}")
        self.stdout.write(f"test alert sent to {options['channel']}")
