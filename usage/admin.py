"""Admin: API keys (the secret is shown once, on creation; revoke; limits) and the ledger (read-only)."""

from __future__ import annotations

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import construct_instance
from django.utils import timezone

from usage.models import Alias, AliasMember, ApiKey, KeylessRefusal, LedgerEntry, Upstream, UpstreamProbe
from usage.services.aliases import alias_members_number, alias_validate
from usage.services.keys import api_key_create, api_key_revoke
from usage.services.upstreams import upstream_validate


class ApiKeyForm(forms.ModelForm):
    allowed_models = forms.CharField(
        required=False,
        help_text='Comma-separated exact model ids or "author/*"; empty: every model.',
        widget=forms.TextInput(attrs={"size": 80}),
    )
    tags = forms.CharField(required=False, help_text="Comma-separated.")

    class Meta:
        model = ApiKey
        fields = [
            "name",
            "owner",
            "budget_usd",
            "budget_period",
            "rpm_limit",
            "tpm_limit",
            "allowed_models",
            "tags",
            "expires_at",
            "cache_responses",
            "capture_bodies",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("allowed_models", "tags"):
            value = self.initial.get(name)
            if isinstance(value, list):
                self.initial[name] = ", ".join(value)

    @staticmethod
    def _split(raw: str) -> list[str]:
        return [part.strip() for part in (raw or "").split(",") if part.strip()]

    def clean_allowed_models(self):
        return self._split(self.cleaned_data.get("allowed_models"))

    def clean_tags(self):
        return self._split(self.cleaned_data.get("tags"))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "owner", "budget_usd", "budget_period", "rpm_limit", "tpm_limit"]
    list_display += ["expires_at", "revoked_at", "last_used_at"]
    list_filter = ["budget_period", "is_playground", "capture_bodies"]
    search_fields = ["name", "prefix", "owner__username"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        key, secret = api_key_create(
            name=data["name"],
            owner=data.get("owner"),
            budget_usd=data.get("budget_usd"),
            budget_period=data.get("budget_period") or ApiKey.Period.MONTHLY,
            rpm_limit=data.get("rpm_limit"),
            tpm_limit=data.get("tpm_limit"),
            allowed_models=data.get("allowed_models") or [],
            tags=data.get("tags") or [],
            expires_at=data.get("expires_at"),
            cache_responses=bool(data.get("cache_responses")),
            capture_bodies=bool(data.get("capture_bodies")),
        )
        obj.pk = key.pk
        obj.prefix, obj.secret_hash = key.prefix, key.secret_hash
        messages.warning(request, f"The secret of {key.name}, shown only now: {secret}")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        now = timezone.now()
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(api_key=key, now=now)
        self.message_user(request, f"{len(keys)} key(s) revoked.", messages.SUCCESS)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "api_key", "requested_model", "served_model", "status", "http_status"]
    list_display += ["prompt_tokens", "completion_tokens", "reported_cost", "computed_cost"]
    list_filter = ["status", "stream"]
    search_fields = ["requested_model", "served_model", "generation_id"]
    raw_id_fields = ["api_key", "catalog_model", "price_version"]
    date_hierarchy = "created_at"
    list_select_related = ["api_key"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Upstreams (docs/routing.md): validated by usage.services.upstreams; the key's value is never shown ---
class UpstreamForm(forms.ModelForm):
    class Meta:
        model = Upstream
        fields = ["name", "base_url", "api_key_env", "model_prefix", "strip_prefix", "endpoints", "enabled"]

    def clean(self):
        cleaned = super().clean()
        # The upstream as it would be saved (the instance itself changes only after this form is clean).
        upstream_validate(upstream=construct_instance(self, copy.copy(self.instance)))
        return cleaned


@admin.register(Upstream)
class UpstreamAdmin(admin.ModelAdmin):
    form = UpstreamForm
    list_display = ["name", "base_url", "model_prefix", "endpoints", "api_key_env", "enabled", "updated_at"]
    list_filter = ["enabled"]
    fields = ["name", "base_url", "api_key_env", "model_prefix", "strip_prefix", "endpoints", "enabled"]

    def get_readonly_fields(self, request, obj=None):
        # The default upstream's name is what the docs and the status page call it: disable it, don't rename.
        return ["name"] if obj is not None and obj.name == Upstream.DEFAULT_NAME else []

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.name != Upstream.DEFAULT_NAME


@admin.register(UpstreamProbe)
class UpstreamProbeAdmin(admin.ModelAdmin):
    list_display = ["checked_at", "upstream", "ok", "http_status", "latency_ms", "error"]
    list_filter = ["ok", "upstream"]
    list_select_related = ["upstream"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Aliases (docs/gateway.md): usage.services.aliases.alias_validate, called by the members' formset ---
class AliasMemberFormSet(forms.BaseInlineFormSet):
    def _kept_forms(self) -> list[forms.ModelForm]:
        kept = []
        for form in self.forms:
            if not getattr(form, "cleaned_data", None) or not form.cleaned_data.get("model"):
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            kept.append(form)
        # Rows in (position, row) order: positions left at 0 keep the order of the form.
        return sorted(kept, key=lambda form: form.cleaned_data.get("position") or 0)

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        name = self.instance.name  # the parent form's cleaned name (set on the instance before formsets)
        if not name:
            return  # the name field shows its own error
        members = [form.cleaned_data["model"] for form in self._kept_forms()]
        try:
            alias_validate(name=name, members=members, alias_id=self.instance.pk)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc

    def save(self, commit=True):
        kept = self._kept_forms()
        saved = super().save(commit=commit)
        if commit:
            alias_members_number(alias_id=self.instance.pk, models=[f.cleaned_data["model"] for f in kept])
        return saved


class AliasMemberInline(admin.TabularInline):
    model = AliasMember
    formset = AliasMemberFormSet
    fields = ["model", "position", "weight", "max_price_per_million"]
    ordering = ["position", "id"]
    extra = 3


@admin.register(Alias)
class AliasAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy", "enabled", "member_count"]
    list_filter = ["strategy", "enabled"]
    search_fields = ["name"]
    fields = ["name", "strategy", "description", "enabled"]
    inlines = [AliasMemberInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj) -> int:
        return obj.member_count


@admin.register(KeylessRefusal)
class KeylessRefusalAdmin(admin.ModelAdmin):
    """Gateway requests refused before any key was known, per minute and reason (they have no ledger row)."""

    list_display = ["minute", "reason", "count"]
    list_filter = ["reason"]
    date_hierarchy = "minute"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


from usage import admin_alerts  # noqa: E402, F401  (alerts: their own module)
