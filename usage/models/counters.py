"""The gateway's limit counters when no Redis is configured (usage/services/key_counters.py)."""

from __future__ import annotations

from django.db import models


class KeyCounter(models.Model):
    """The gateway's limit counters for one key and window, when no Redis is configured.

    A budget window ("monthly:2026-11-01", "none") holds the period's spend; the requests in flight hold
    BudgetReservation rows. A minute window ("minute:<n>") holds that minute's requests and tokens. Money in
    integer nanodollars. See usage/gateway/limits.py.
    """

    api_key = models.ForeignKey("usage.ApiKey", on_delete=models.CASCADE, related_name="+")
    window = models.CharField(max_length=40)
    spent = models.BigIntegerField(default=0)
    requests = models.IntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)  # last admit or settle

    class Meta:
        constraints = [
            # The gateway's admit / settle: one row per (key, window), locked while it is checked.
            models.UniqueConstraint(fields=["api_key", "window"], name="usage_key_counter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.window}"


class BudgetReservation(models.Model):
    """What one request in flight holds of its key's budget window (its worst-case cost, in nanodollars),
    until it settles or its own deadline passes. Database counters only (Redis keeps its own)."""

    id = models.CharField(max_length=32, primary_key=True)
    api_key = models.ForeignKey("usage.ApiKey", on_delete=models.CASCADE, related_name="+")
    window = models.CharField(max_length=40)
    amount = models.BigIntegerField()
    deadline = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["api_key", "window", "deadline"], name="usage_reservation_live_idx")]

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.window} {self.amount}"
