"""Evaluate the alert rules and send what is due (what the Celery task runs on ALERTS_SCHEDULE)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from usage.services.alerts.delivery import deliveries_send
from usage.services.alerts.evaluate import alerts_evaluate


class Command(BaseCommand):
    help = "Evaluate the enabled alert rules, record their alerts and send the deliveries that are due."

    def handle(self, *args, **options):
        result = alerts_evaluate()
        sent = deliveries_send()
        self.stdout.write(
            f"alerts ok: rules={result.rules} fired={result.fired} resolved={result.resolved} "
            f"reminders={result.reminders} sent={sent.sent} failed={sent.failed} given_up={sent.given_up}"
        )
