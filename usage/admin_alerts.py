"""Admin for alerts (docs/alerts.md): channels (validated by usage.services.alerts.channels: an http(s)
webhook URL, a signing key variable that is set), rules, and the alerts and deliveries (read-only)."""

from __future__ import annotations

import copy

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance

from usage.models import Alert, AlertChannel, AlertDelivery, AlertRule
from usage.selectors.alerts import channel_state
from usage.services.alerts.channels import channel_validate


class AlertChannelForm(forms.ModelForm):
    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "target", "secret_env", "enabled"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            channel_validate(channel=construct_instance(self, copy.copy(self.instance)))
        return cleaned


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = AlertChannelForm
    list_display = ["name", "kind", "target", "secret_env", "enabled", "state"]
    list_filter = ["kind", "enabled"]

    @admin.display(description="state")
    def state(self, obj) -> str:
        return channel_state(obj)


class AlertRuleForm(forms.ModelForm):
    thresholds = forms.CharField(
        required=False, initial="50, 80, 100", help_text="Budget rules: comma-separated percents."
    )

    class Meta:
        model = AlertRule
        fields = ["name", "kind", "enabled", "channels", "api_key", "model", "upstream", "scope", "window"]
        fields += ["thresholds", "days", "factor", "min_amount", "error_percent", "min_requests", "probes"]
        fields += ["reminder_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        value = self.initial.get("thresholds")
        if isinstance(value, list):
            self.initial["thresholds"] = ", ".join(str(v) for v in value)

    def clean_thresholds(self):
        raw = self.cleaned_data.get("thresholds") or ""
        try:
            values = sorted({int(part) for part in raw.split(",") if part.strip()})
        except ValueError as exc:
            raise ValidationError("Whole percents, comma-separated, e.g. 50, 80, 100.") from exc
        if any(value <= 0 for value in values):
            raise ValidationError("Each threshold must be above 0 %.")
        if self.cleaned_data.get("kind") == AlertRule.Kind.BUDGET and not values:
            raise ValidationError("A budget rule needs at least one threshold.")
        return values

    def clean(self):
        cleaned = super().clean()
        kind, scope = cleaned.get("kind"), cleaned.get("scope")
        allowed = {
            AlertRule.Kind.SPEND_SPIKE: (AlertRule.Scope.KEY, AlertRule.Scope.MODEL),
            AlertRule.Kind.ERROR_SPIKE: (AlertRule.Scope.MODEL, AlertRule.Scope.UPSTREAM),
        }.get(kind)
        if allowed and scope not in allowed:
            self.add_error("scope", f"A {kind} rule is {' or '.join(allowed)} scoped.")
        return cleaned


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ["name", "kind", "enabled", "api_key", "upstream", "reminder_minutes"]
    list_filter = ["kind", "enabled"]
    filter_horizontal = ["channels"]
    raw_id_fields = ["api_key"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "title", "rule", "api_key"]
    list_filter = ["event"]
    search_fields = ["title", "subject"]
    list_select_related = ["rule", "api_key"]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "alert", "channel", "recipient", "status", "attempts", "error", "sent_at"]
    list_filter = ["status", "channel"]
    list_select_related = ["alert", "channel"]
