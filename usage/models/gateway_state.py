"""What the gateway keeps in the database besides the ledger: response cache entries (without Redis) and
the counts of requests refused before any key was known."""

from __future__ import annotations

from django.db import models


class CachedResponse(models.Model):
    """A response cache entry when no Redis is configured (usage/gateway/cache.py); expired ones pruned."""

    key = models.CharField(max_length=64, unique=True)  # sha256 hex of upstream + endpoint + normalized body
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    payload = models.BinaryField()

    def __str__(self) -> str:
        return self.key


class KeylessRefusal(models.Model):
    """Gateway requests refused before any key was known (missing or unknown key, bad Host), per minute and
    reason. They write no ledger row: the ledger holds a row per request of a known key."""

    class Reason(models.TextChoices):
        MISSING_KEY = "missing_key"
        INVALID_KEY = "invalid_key"
        BAD_HOST = "bad_host"

    minute = models.DateTimeField()
    reason = models.CharField(max_length=20, choices=Reason.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-minute", "reason"]
        constraints = [
            # The gateway adds its counts to (minute, reason): one row each.
            models.UniqueConstraint(fields=["minute", "reason"], name="usage_keyless_refusal_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.reason}: {self.count}"
