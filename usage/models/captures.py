"""The request and reply bodies of a ledger row, kept for keys that opt in (ApiKey.capture_bodies).

Written by the ledger writer's process (usage/gateway/ledger_process.py) once the row is in, redacted
(usage/redaction.py) and capped at CAPTURE_MAX_BYTES each; pruned after CAPTURE_RETENTION_DAYS
(usage/services/captures.py), and with their row.
"""

from __future__ import annotations

from django.db import models


class CapturedExchange(models.Model):
    entry = models.OneToOneField(
        "usage.LedgerEntry", primary_key=True, on_delete=models.CASCADE, related_name="captured"
    )
    created_at = models.DateTimeField(db_index=True)  # the request's time: retention (captures_prune) by it
    request = models.JSONField(null=True)  # the request body as sent, redacted (null: not JSON)
    request_text = models.TextField(blank=True)  # a request body that is not JSON, redacted and capped
    reply = models.JSONField(null=True)  # the reply body, or a stream assembled into one (usage.exchanges)
    reply_text = models.TextField(blank=True)  # a reply that could not be read as JSON, redacted and capped
    truncated = models.BooleanField(default=False)  # something was cut to CAPTURE_MAX_BYTES

    class Meta:
        verbose_name = "captured exchange"

    def __str__(self) -> str:
        return f"capture of {self.entry_id}"
