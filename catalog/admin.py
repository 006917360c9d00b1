"""Admin: the catalogue (OpenRouter models read-only: a sync owns them; manual models of other upstreams
added here with dated price versions), sync runs, and "Sync now"."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from catalog.models import CatalogModel, ManualPriceVersion, PriceVersion, ProviderEndpoint, SyncRun
from catalog.pricing import usd, usd_per_m
from catalog.services.manual_models import (
    manual_model_add,
    manual_model_id_validate,
    manual_model_update,
    price_version_add,
    price_version_validate,
)
from catalog.services.sync import HeldRunGone, catalog_sync_apply_held, sync_summary
from catalog.tasks import sync_catalog

# The fields of a manual model the admin edits; the rest are derived (author, dates, raw).
MANUAL_MODEL_FIELDS = ("model_id", "name", "context_length", "description")
MANUAL_MODEL_READONLY = ("model_id", "source", "author", "first_seen", "last_seen", "retired_at")
MANUAL_PRICE_FIELDS = ("prompt", "completion", "input_cache_read", "input_cache_write", "request")
PER_TOKEN_HELP = "USD per {what}: per 1M tokens = this × 1 000 000 (0.0000025 is $2.50 per 1M)."
PRICE_HELP = {
    "prompt": PER_TOKEN_HELP.format(what="input token"),
    "completion": PER_TOKEN_HELP.format(what="output token"),
    "input_cache_read": PER_TOKEN_HELP.format(what="cached input token")
    + " Empty or 0: billed at the input price.",
    "input_cache_write": PER_TOKEN_HELP.format(what="cache-written input token")
    + " Empty or 0: billed at the input price.",
    "request": "USD per request, on top of the tokens. Empty: 0.",
}


def enqueue_sync() -> None:
    """Queue the sync task once the current transaction commits."""
    transaction.on_commit(sync_catalog.delay)


class RetiredFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "retired"

    def lookups(self, request, model_admin):
        return (("no", "current"), ("yes", "retired"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(retired_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(retired_at__isnull=False)
        return queryset


class InputModalityFilter(admin.SimpleListFilter):
    title = "input modality"
    parameter_name = "input"
    modalities = ("text", "image", "file", "audio", "video")

    def lookups(self, request, model_admin):
        return [(m, m) for m in self.modalities]

    def queryset(self, request, queryset):
        if self.value() in self.modalities:
            # JSON "contains" is not on SQLite: match the quoted name in the stored list instead.
            return queryset.filter(input_modalities__icontains=f'"{self.value()}"')
        return queryset


class OutputModalityFilter(InputModalityFilter):
    title = "output modality"
    parameter_name = "output"

    def queryset(self, request, queryset):
        if self.value() in self.modalities:
            return queryset.filter(output_modalities__icontains=f'"{self.value()}"')
        return queryset


class PriceVersionInline(admin.TabularInline):
    model = PriceVersion
    fields = ("valid_from", "valid_to", "prompt", "completion", "input_cache_read", "request", "extra")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-valid_from",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ManualModelAddForm(forms.ModelForm):
    class Meta:
        model = CatalogModel
        fields = MANUAL_MODEL_FIELDS
        help_texts = {
            "model_id": "The id clients send, the upstream's prefix included, e.g. local/qwen3-8b. "
            "The author is the part before the first /."
        }

    def clean_model_id(self):
        model_id = self.cleaned_data["model_id"]
        manual_model_id_validate(model_id)
        return model_id


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    """OpenRouter models: view only (the sync owns them). Manual models: added and edited here."""

    list_display = ("model_id", "name", "author", "source", "context_length", "modality", "first_seen")
    list_display += ("retired_at",)
    list_filter = (RetiredFilter, "source", "author", InputModalityFilter, OutputModalityFilter)
    search_fields = ("model_id", "name", "canonical_slug", "description")
    readonly_fields = ("model_id", "source", "first_seen", "last_seen", "retired_at", "listing_hash", "raw")
    inlines = (PriceVersionInline,)
    actions = ("sync_now",)
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_manual:
            return False
        return super().has_change_permission(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ManualModelAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return MANUAL_MODEL_FIELDS
        if obj.is_manual:
            return (*MANUAL_MODEL_READONLY, "name", "context_length", "description", "add_price")
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.is_manual:
            return (*MANUAL_MODEL_READONLY, "add_price")
        return self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    @admin.display(description="Prices")
    def add_price(self, obj):
        url = reverse("admin:catalog_manualpriceversion_add")
        return format_html('<a href="{}?catalog_model={}">Add a dated price version</a>', url, obj.pk)

    def save_model(self, request, obj, form, change):
        entered = {"name": obj.name, "context_length": obj.context_length, "description": obj.description}
        if change:
            manual_model_update(catalog_model=obj, **entered)
            return
        created = manual_model_add(model_id=obj.model_id, **entered)
        obj.pk = created.pk
        obj.refresh_from_db()
        obj._state.adding = False

    @admin.action(description="Sync the catalogue now (whatever is selected)")
    def sync_now(self, request, queryset):
        enqueue_sync()
        self.message_user(request, "Catalogue sync queued; its result shows in Sync runs.", messages.SUCCESS)


class ManualPriceVersionForm(forms.ModelForm):
    class Meta:
        model = ManualPriceVersion
        fields = ("catalog_model", "valid_from", *MANUAL_PRICE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["catalog_model"].queryset = CatalogModel.objects.filter(source=CatalogModel.Source.MANUAL)
        self.fields["catalog_model"].help_text = "Manual models only: OpenRouter prices come from the sync."
        self.fields["valid_from"].initial = timezone.now
        self.fields["valid_from"].help_text = "The current version ends here; it must be after its start."
        for name in MANUAL_PRICE_FIELDS:
            self.fields[name].required = name in ("prompt", "completion")
            self.fields[name].help_text = PRICE_HELP[name]

    def prices(self) -> dict[str, Decimal]:
        """The prices entered (those that passed their field's checks); an empty optional one is 0."""
        return {
            name: Decimal(0) if self.cleaned_data[name] is None else self.cleaned_data[name]
            for name in MANUAL_PRICE_FIELDS
            if name in self.cleaned_data
        }

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("catalog_model") and cleaned.get("valid_from"):
            price_version_validate(
                catalog_model=cleaned["catalog_model"], valid_from=cleaned["valid_from"], prices=self.prices()
            )
        return cleaned


@admin.register(ManualPriceVersion)
class ManualPriceVersionAdmin(admin.ModelAdmin):
    """A manual model's next price version (services.manual_models.price_version_add); past ones stay."""

    form = ManualPriceVersionForm
    fields = ("catalog_model", "valid_from", *MANUAL_PRICE_FIELDS)
    list_display = ("catalog_model", "valid_from", "valid_to", "input_per_m", "output_per_m")
    list_display += ("cache_read_per_m", "cache_write_per_m", "per_request")
    list_filter = ("catalog_model",)
    list_select_related = ("catalog_model",)
    ordering = ("catalog_model__model_id", "-valid_from")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(catalog_model__source=CatalogModel.Source.MANUAL)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="input / 1M")
    def input_per_m(self, obj):
        return usd_per_m(obj.prompt)

    @admin.display(description="output / 1M")
    def output_per_m(self, obj):
        return usd_per_m(obj.completion)

    @admin.display(description="cache read / 1M")
    def cache_read_per_m(self, obj):
        return usd_per_m(obj.input_cache_read)

    @admin.display(description="cache write / 1M")
    def cache_write_per_m(self, obj):
        return usd_per_m(obj.input_cache_write)

    @admin.display(description="per request")
    def per_request(self, obj):
        return usd(obj.request)

    def save_model(self, request, obj, form, change):
        created = price_version_add(
            catalog_model=form.cleaned_data["catalog_model"],
            valid_from=form.cleaned_data["valid_from"],
            prices=form.prices(),
        )
        obj.pk = created.pk
        obj.refresh_from_db()
        obj._state.adding = False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """Sync runs, newest first. A held one (a sanity check failed, nothing applied) can be applied anyway:
    the "apply anyway" action, or the button on its page (both POST)."""

    list_display = (
        "started_at",
        "status",
        "source",
        "models_count",
        "added",
        "repriced",
        "retired",
        "unchanged",
        "reason",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in SyncRun._meta.fields if f.name != "listing"] + ["stored_listing"]
    change_list_template = "admin/catalog/syncrun/change_list.html"
    change_form_template = "admin/catalog/syncrun/change_form.html"
    actions = ("apply_anyway",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_apply_permission(self, request) -> bool:
        return request.user.has_perm("catalog.change_syncrun")

    @admin.display(description="reason (failed / held)")
    def reason(self, obj):
        return obj.error

    @admin.display(description="stored listing")
    def stored_listing(self, obj):
        if obj.listing is None:
            return "-"
        return f"{len(obj.listing):,} bytes compressed (applied by “apply anyway”)"

    def get_urls(self):
        own = [
            path(
                "sync-now/", self.admin_site.admin_view(self.sync_now_view), name="catalog_syncrun_sync_now"
            ),
            path(
                "<int:run_id>/apply-anyway/",
                self.admin_site.admin_view(self.apply_anyway_view),
                name="catalog_syncrun_apply_anyway",
            ),
        ]
        return own + super().get_urls()

    def sync_now_view(self, request: HttpRequest):
        changelist = reverse("admin:catalog_syncrun_changelist")
        if request.method != "POST":
            return HttpResponseRedirect(changelist)
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        enqueue_sync()
        self.message_user(
            request, "Catalogue sync queued; reload this page to see its result.", messages.SUCCESS
        )
        return HttpResponseRedirect(changelist)

    @admin.action(
        description="Apply anyway (held runs: their stored listing, without the checks)",
        permissions=["apply"],
    )
    def apply_anyway(self, request, queryset):
        for run_id in queryset.order_by("started_at", "pk").values_list("pk", flat=True):
            self.apply_held(request, run_id)

    def apply_anyway_view(self, request: HttpRequest, run_id: int):
        if request.method == "POST" and self.has_apply_permission(request):
            self.apply_held(request, run_id)
        return HttpResponseRedirect(reverse("admin:catalog_syncrun_changelist"))

    def apply_held(self, request: HttpRequest, run_id: int) -> None:
        try:
            run = catalog_sync_apply_held(run_id=run_id)
        except HeldRunGone as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return
        level = messages.SUCCESS if run.status == SyncRun.Status.OK else messages.ERROR
        self.message_user(request, f"held run {run_id} applied anyway: {sync_summary(run)}", level)


@admin.register(ProviderEndpoint)
class ProviderEndpointAdmin(admin.ModelAdmin):
    """Read-only: rows come from the endpoints API (manage.py sync_provider_endpoints, docs/routing.md)."""

    list_display = ["catalog_model", "provider_name", "tag", "quantization", "prompt", "completion"]
    list_display += ["uptime_last_30m", "fetched_at"]
    list_filter = ["provider_name"]
    search_fields = ["catalog_model__model_id", "provider_name", "tag"]
    list_select_related = ["catalog_model"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
