"""The catalogue: OpenRouter's models, every price each ever had (dated), and the sync runs that saw them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.price_schedule import effective_prices

# Prices are USD per unit as OpenRouter gives them (per token, per request, per image...): 18 decimal places.
PRICE = {"max_digits": 30, "decimal_places": 18}

# Every price category with a column of its own; others that appear in a listing go to PriceVersion.extra.
PRICE_FIELDS = (
    "prompt",
    "completion",
    "request",
    "image",
    "web_search",
    "internal_reasoning",
    "input_cache_read",
    "input_cache_write",
    "input_cache_write_1h",
    "audio",
)
PER_MILLION = Decimal(1_000_000)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class CatalogModel(TimestampedModel):
    """One model id. Never deleted. OpenRouter's come from a sync (missing from a listing: retired);
    manual ones (models of other upstreams) are entered in the admin and never touched by a sync."""

    class Source(models.TextChoices):
        OPENROUTER = "openrouter", "OpenRouter (synced)"
        MANUAL = "manual", "manual (another upstream)"

    model_id = models.CharField(max_length=200, unique=True)  # "openai/gpt-4o"
    canonical_slug = models.CharField(max_length=200, blank=True)
    hugging_face_id = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=300, blank=True)
    author = models.CharField(max_length=100, db_index=True)  # the part of model_id before "/"
    description = models.TextField(blank=True)
    context_length = models.PositiveBigIntegerField(null=True, blank=True)
    modality = models.CharField(max_length=100, blank=True)  # "text+image->text"
    input_modalities = models.JSONField(default=list, blank=True)
    output_modalities = models.JSONField(default=list, blank=True)
    tokenizer = models.CharField(max_length=100, blank=True)
    instruct_type = models.CharField(max_length=100, blank=True)
    supported_parameters = models.JSONField(default=list, blank=True)
    default_parameters = models.JSONField(default=dict, blank=True)
    top_provider = models.JSONField(
        default=dict, blank=True
    )  # context_length, max_completion_tokens, is_moderated
    max_completion_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    per_request_limits = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(null=True, blank=True)  # OpenRouter's "created" (epoch seconds)
    expiration_date = models.DateField(null=True, blank=True)
    knowledge_cutoff = models.CharField(max_length=40, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)  # the latest listing entry, as received
    listing_hash = models.CharField(max_length=64, blank=True)  # sha256 of the raw entry: skip unchanged ones
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.OPENROUTER)

    class Meta:
        ordering = ["model_id"]
        indexes = [
            # The catalogue page: current models only, by author / created.
            models.Index(fields=["retired_at", "author"], name="catalog_current_author_idx"),
        ]

    def __str__(self) -> str:
        return self.model_id

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    @property
    def is_manual(self) -> bool:
        return self.source == self.Source.MANUAL

    @property
    def slug(self) -> str:
        return self.model_id.split("/", 1)[1] if "/" in self.model_id else self.model_id


class PriceVersion(models.Model):
    """The prices of one model over [valid_from, valid_to); valid_to NULL means "still valid".

    A NULL price means "variable" (OpenRouter's "-1", e.g. for routers); a category absent from a
    listing is 0.
    """

    catalog_model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="price_versions")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    prompt = models.DecimalField(**PRICE, null=True, blank=True)
    completion = models.DecimalField(**PRICE, null=True, blank=True)
    request = models.DecimalField(**PRICE, null=True, blank=True)
    image = models.DecimalField(**PRICE, null=True, blank=True)
    web_search = models.DecimalField(**PRICE, null=True, blank=True)
    internal_reasoning = models.DecimalField(**PRICE, null=True, blank=True)
    input_cache_read = models.DecimalField(**PRICE, null=True, blank=True)
    input_cache_write = models.DecimalField(**PRICE, null=True, blank=True)
    input_cache_write_1h = models.DecimalField(**PRICE, null=True, blank=True)
    audio = models.DecimalField(**PRICE, null=True, blank=True)
    discount = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    extra = models.JSONField(
        default=dict, blank=True
    )  # other categories as they appear: {"name": "0.000001"}
    overrides = models.JSONField(default=list, blank=True)  # tiered prices, kept structured as received

    class Meta:
        ordering = ["catalog_model_id", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["catalog_model"],
                condition=Q(valid_to__isnull=True),
                name="catalog_one_open_price_version",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="catalog_price_version_valid_range",
            ),
        ]
        indexes = [
            # The price valid at a request's time: catalog_model = X and valid_from <= t < valid_to.
            models.Index(fields=["catalog_model", "valid_from"], name="catalog_price_model_from_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.catalog_model_id} from {self.valid_from:%Y-%m-%d %H:%M}"

    def prices(self) -> dict[str, Decimal | None]:
        """The base prices (no overrides applied)."""
        return {name: getattr(self, name) for name in PRICE_FIELDS}

    def prices_at(self, prompt_tokens: int, moment: datetime) -> dict[str, Decimal | None]:
        """The effective prices for a request of this prompt size at this moment (catalog.price_schedule)."""
        return effective_prices(self.prices(), self.overrides, prompt_tokens=prompt_tokens, at=moment)


class ManualPriceVersion(PriceVersion):
    """Manual models' price versions in the admin (catalog.services.manual_models.price_version_add)."""

    class Meta:
        proxy = True
        verbose_name = "manual price version"

    def validate_constraints(self, exclude=None):
        # The new version is open while the current one still is: price_version_add closes that one first,
        # so "one open version a model" is left to the database here.
        super().validate_constraints(exclude={*(exclude or ()), "catalog_model"})


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        FAILED = "failed"
        HELD = "held"  # the listing failed a sanity check: nothing applied (catalog.services.sync_checks)

    source = models.CharField(max_length=500)  # URL or file path
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    models_count = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    repriced = models.PositiveIntegerField(default=0)
    retired = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)  # why it failed, or why it is held (one line)
    # {"added": [ids], "repriced": [{"model_id", "old": {category: str|None}, "new": {...}}],
    #  "retired": [ids], "returned": [ids]}
    changes = models.JSONField(default=dict, blank=True)
    # A held run's listing as received, zlib-compressed, for "apply anyway" (NULL once applied, and others).
    listing = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"sync {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class SyncLock(models.Model):
    """A named lease so two catalogue syncs never overlap (across processes, on SQLite and PostgreSQL).

    Taken with one conditional UPDATE (free, or its lease ran out); released by clearing `locked_until`.
    The lease bounds how long a crashed holder can block the next sync.
    """

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=200, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class ProviderEndpoint(models.Model):
    """One provider serving a model, from GET /models/{author}/{slug}/endpoints (replaced whole per fetch).

    Prices are USD per token (None: variable); latency/throughput are kept as OpenRouter reports them.
    """

    catalog_model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=300, blank=True)  # "OpenAI: GPT-4"
    provider_name = models.CharField(max_length=100)  # "OpenAI"
    tag = models.CharField(max_length=100, blank=True)  # "openai" or "deepinfra/fp8"
    quantization = models.CharField(max_length=40, blank=True)
    context_length = models.PositiveBigIntegerField(null=True, blank=True)
    max_completion_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    max_prompt_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    pricing = models.JSONField(default=dict, blank=True)  # as received
    prompt = models.DecimalField(**PRICE, null=True, blank=True)
    completion = models.DecimalField(**PRICE, null=True, blank=True)
    uptime_last_30m = models.FloatField(null=True, blank=True)  # percent
    latency_last_30m = models.JSONField(null=True, blank=True)  # {"p50": ..} or a number, as received
    throughput_last_30m = models.JSONField(null=True, blank=True)
    supported_parameters = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=40, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["catalog_model", "provider_name", "tag"]
        indexes = [
            # The model page's providers table: one model's endpoints.
            models.Index(fields=["catalog_model", "provider_name"], name="endpoint_model_provider_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.catalog_model_id} via {self.provider_name}"


class FeedToken(models.Model):
    """A user's read-only token for the catalogue-changes Atom feed, for a feed reader that cannot log in.

    Only the SHA-256 of the secret is stored (catalog.services.feed_tokens); deleting the row revokes it.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feed_token")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)  # "tlfeed_ab12": enough to recognise it, useless alone
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"
