"""Alerts (docs/alerts.md): channels they go to, rules that raise them, each rule's state per subject, the
alerts raised and their deliveries. Evaluation: usage.services.alerts.evaluate; delivery: .delivery."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import TimestampedModel


def default_thresholds() -> list[int]:
    return [50, 80, 100]


class AlertChannel(TimestampedModel):
    """Where alerts go. A webhook's signing key is never stored: `secret_env` names the environment variable
    holding it (as an upstream's key). Validation: usage.services.alerts.channels.channel_validate."""

    class Kind(models.TextChoices):
        EMAIL = "email", "e-mail (Django's EMAIL_* settings)"
        WEBHOOK = "webhook", "webhook (JSON POST signed with HMAC-SHA256)"
        SLACK = "slack", "Slack-compatible incoming webhook"

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(
        max_length=500, help_text="E-mail: comma-separated addresses. Webhook and Slack: the http(s) URL."
    )
    secret_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Webhook: the environment variable holding the HMAC-SHA256 signing key (required)",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertRule(TimestampedModel):
    """A condition watched for each of its subjects (a key, a model, an upstream), sent to its channels."""

    class Kind(models.TextChoices):
        BUDGET = "budget", "a key's budget reaches a share of its period"
        FORECAST = "forecast", "a key's burn-rate forecast runs out within N days"
        SPEND_SPIKE = "spend_spike", "a spend spike for a key or a model"
        ERROR_SPIKE = "error_spike", "an error-rate spike for a model or an upstream (15 minutes)"
        UPSTREAM_DOWN = "upstream_down", "an upstream down for M consecutive probes"
        CATALOG_CHANGE = "catalog_change", "a model with traffic repriced or retired (when a sync ends)"

    class Scope(models.TextChoices):
        KEY = "key", "per key"
        MODEL = "model", "per model"
        UPSTREAM = "upstream", "per upstream"

    class Window(models.TextChoices):
        HOUR = "hour", "the last hour against the median hour of the previous 7 days"
        DAY = "day", "the last day against the median day of the previous 28 days"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    channels = models.ManyToManyField(AlertChannel, blank=True, related_name="rules")
    api_key = models.ForeignKey(
        "usage.ApiKey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="Budget and forecast rules: this key only; empty: every active key with a budget",
    )
    model = models.CharField(
        max_length=200, blank=True, help_text="Spike rules per model: this model only; empty: every model"
    )
    upstream = models.ForeignKey(
        "usage.Upstream",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="Upstream rules: this upstream only; empty: every enabled upstream",
    )
    thresholds = models.JSONField(
        default=default_thresholds,
        blank=True,
        help_text="Budget rules: percents of the budget, e.g. 50, 80, 100",
    )
    scope = models.CharField(
        max_length=10,
        choices=Scope.choices,
        default=Scope.KEY,
        help_text="Spend spikes: per key or model; error spikes: per model or upstream",
    )
    window = models.CharField(max_length=4, choices=Window.choices, default=Window.HOUR)
    factor = models.DecimalField(
        max_digits=8, decimal_places=2, default=3, help_text="Spend spikes: alert above this × the median"
    )
    min_amount = models.DecimalField(
        max_digits=14, decimal_places=4, default=1, help_text="Spend spikes: and above this many USD"
    )
    error_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=20, help_text="Error spikes: alert above this % of errors"
    )
    min_requests = models.PositiveIntegerField(
        default=20, help_text="Error spikes: with at least this many requests in 15 minutes"
    )
    days = models.PositiveIntegerField(default=3, help_text="Forecast rules: runs out within this many days")
    probes = models.PositiveIntegerField(default=3, help_text="Upstream rules: consecutive failed probes")
    last_sync_run_id = models.PositiveIntegerField(  # catalog_change rules: the last sync run looked at
        null=True, blank=True, editable=False
    )
    reminder_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Send the alert again while the condition lasts; empty: never"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(days__gte=1), name="usage_alert_rule_days_positive"),
            models.CheckConstraint(condition=Q(probes__gte=1), name="usage_alert_rule_probes_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class AlertState(models.Model):
    """A rule's condition for one subject ("key:12", "upstream:3"): whether it holds, and since when."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    subject = models.CharField(max_length=200)
    active = models.BooleanField(default=False)
    level = models.CharField(max_length=40, blank=True)  # e.g. the budget threshold reached: "80"
    started_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)  # for the reminders

    class Meta:
        constraints = [
            # The evaluation reads and updates one rule's states by subject.
            models.UniqueConstraint(fields=["rule", "subject"], name="usage_alert_state_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.subject}: {'active' if self.active else 'resolved'}"


class Alert(models.Model):
    """One message raised: a condition started, resolved or goes on (a reminder), or a test."""

    class Event(models.TextChoices):
        FIRED = "fired"
        RESOLVED = "resolved"
        REMINDER = "reminder"
        TEST = "test"

    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(  # the key it is about, if any: who may see it (usage.selectors.visibility)
        "usage.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    subject = models.CharField(max_length=200, blank=True)
    event = models.CharField(max_length=10, choices=Event.choices)
    title = models.CharField(max_length=300)
    message = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # /alerts/: the recent alerts, newest first.
            models.Index(fields=["-created_at", "-id"], name="alert_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class AlertDelivery(models.Model):
    """One alert to one channel (or one key holder's address): its attempts, status and last error."""

    class Status(models.TextChoices):
        PENDING = "pending"  # not sent yet, or failed and to be tried again at next_attempt_at
        SENT = "sent"
        FAILED = "failed"  # every attempt failed (ALERT_DELIVERY_ATTEMPTS)

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        AlertChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    recipient = models.CharField(max_length=300, blank=True)  # a key holder's e-mail (no channel)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The retry pass: pending deliveries that are due.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="alert_delivery_due_idx"
            ),
            # /metrics: the failed deliveries, counted.
            models.Index(fields=["status"], name="alert_delivery_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.channel_id or self.recipient}: {self.status}"


class AlertSubscription(models.Model):
    """A key holder opting in to their own key's alerts, by the e-mail on their user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("usage.ApiKey", on_delete=models.CASCADE, related_name="alert_subscriptions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A key's subscribers, looked up when one of its alerts is raised.
            models.UniqueConstraint(fields=["api_key", "user"], name="usage_alert_subscription_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.api_key_id}"
