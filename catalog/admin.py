"""Admin: the catalogue (read-mostly: a sync owns it), price versions, sync runs, and "Sync now"."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse

from catalog.models import CatalogModel, PriceVersion, ProviderEndpoint, SyncRun


def enqueue_sync() -> None:
    """Queue the sync task once the current transaction commits."""
    from catalog.tasks import sync_catalog

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


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = ("model_id", "name", "author", "context_length", "modality", "first_seen", "retired_at")
    list_filter = (RetiredFilter, "author", InputModalityFilter, OutputModalityFilter)
    search_fields = ("model_id", "name", "canonical_slug", "description")
    readonly_fields = ("model_id", "first_seen", "last_seen", "retired_at", "listing_hash", "raw")
    inlines = (PriceVersionInline,)
    actions = ("sync_now",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # models come from a sync

    @admin.action(description="Sync the catalogue now (whatever is selected)")
    def sync_now(self, request, queryset):
        enqueue_sync()
        self.message_user(request, "Catalogue sync queued; its result shows in Sync runs.", messages.SUCCESS)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "status",
        "source",
        "models_count",
        "added",
        "repriced",
        "retired",
        "unchanged",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in SyncRun._meta.fields]
    change_list_template = "admin/catalog/syncrun/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        own = [
            path("sync-now/", self.admin_site.admin_view(self.sync_now_view), name="catalog_syncrun_sync_now")
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
