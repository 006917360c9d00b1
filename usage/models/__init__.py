"""API keys we issue, the ledger (one row per gateway request) and its hourly rollups."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, NullIf

from catalog.models import PRICE, CatalogModel, PriceVersion, TimestampedModel
from usage.costs import COST, spent_cost


class ApiKey(TimestampedModel):
    """A key for our gateway. Only the SHA-256 of the secret is stored; the secret is shown once."""

    class Period(models.TextChoices):
        NONE = "none", "no reset"
        DAILY = "daily"
        WEEKLY = "weekly"
        MONTHLY = "monthly"

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="api_keys"
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)  # shown in lists: "tl-3f9a1c2b"
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)  # sha256 hex of the secret
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    budget_usd = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    budget_period = models.CharField(max_length=10, choices=Period.choices, default=Period.MONTHLY)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute")
    allowed_models = models.JSONField(
        default=list, blank=True, help_text='Exact ids or "author/*"; empty: all'
    )
    tags = models.JSONField(default=list, blank=True)
    is_playground = models.BooleanField(default=False)  # the per-user key the playground creates
    cache_responses = models.BooleanField(
        default=False,
        help_text="Answer repeated deterministic requests (temperature 0 or a seed) from the response cache",
    )
    capture_bodies = models.BooleanField(
        default=False,
        help_text="Keep each request's body and reply (redacted, capped, for CAPTURE_RETENTION_DAYS) for its "
        "activity page",
    )

    class Meta:
        verbose_name, verbose_name_plural = "API key", "API keys"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_usd__isnull=True) | Q(budget_usd__gte=0),
                name="usage_key_budget_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


# The gateway's inference endpoints, as the ledger's `endpoint` names them (the pages' endpoint filter).
ENDPOINTS = ("chat/completions", "completions", "messages", "responses", "embeddings")


class LedgerEntry(models.Model):
    """One gateway request, whatever became of it."""

    class Status(models.TextChoices):
        OK = "ok"
        ERROR = "error"  # the upstream (or the connection to it) failed
        CANCELLED = "cancelled"  # the client went away before the end
        REJECTED = "rejected"  # we refused it: bad key, budget, rate limit, model not allowed, bad body
        CACHED = "cached"  # answered from the response cache: cost 0, meta["saved_cost"] what it saved
        INTERRUPTED = "interrupted"  # the gateway died with it in flight (its journal said so at restart)

    class CostState(models.TextChoices):
        EXACT = "", "as reported"  # the upstream's usage (or none was needed)
        ESTIMATED = "estimated"  # cancelled, broken or interrupted: estimated, reconciliation pending
        RECONCILED = "reconciled"  # corrected from OpenRouter's generation stats
        UNRECONCILED = "unreconciled"  # the stats never came: the estimate stands

    # No index of its own: ledger_key_recent_idx (api_key, -created_at) serves every lookup by key.
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger", db_index=False
    )
    created_at = models.DateTimeField()  # when the request arrived
    request_id = models.CharField(max_length=32, null=True, blank=True, unique=True)  # ours, per request
    endpoint = models.CharField(max_length=40, default="chat/completions")  # one of ENDPOINTS
    requested_model = models.CharField(max_length=200, blank=True)
    served_model = models.CharField(max_length=200, blank=True)
    catalog_model = models.ForeignKey(CatalogModel, null=True, blank=True, on_delete=models.PROTECT)
    provider = models.CharField(max_length=100, blank=True)
    generation_id = models.CharField(max_length=200, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)  # the reply's: stop, length, tool_calls...
    stream = models.BooleanField(default=False)
    http_status = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices)
    cost_state = models.CharField(max_length=12, choices=CostState.choices, blank=True, default="")
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)  # all input tokens, cached ones included
    cached_tokens = models.PositiveIntegerField(default=0)  # cache reads
    cache_write_tokens = models.PositiveIntegerField(default=0)  # all cache writes, one-hour ones included
    cache_write_1h_tokens = models.PositiveIntegerField(default=0)  # one-hour cache writes (Anthropic)
    completion_tokens = models.PositiveIntegerField(default=0)  # all output tokens, reasoning included
    reasoning_tokens = models.PositiveIntegerField(default=0)
    audio_tokens = models.PositiveIntegerField(default=0)
    image_tokens = models.PositiveIntegerField(default=0)
    web_search_requests = models.PositiveIntegerField(default=0)
    extra_usage = models.JSONField(default=dict, blank=True)  # other usage categories present
    reported_cost = models.DecimalField(**COST, null=True, blank=True)  # OpenRouter's usage.cost
    computed_cost = models.DecimalField(**COST, null=True, blank=True)  # ours, from price_version
    # What reading cached_tokens from the prompt cache saved against the input price, both at the prices
    # effective for this row (usage.costs.cache_savings; catalog.price_schedule).
    cache_savings = models.DecimalField(**COST, default=0)
    price_version = models.ForeignKey(PriceVersion, null=True, blank=True, on_delete=models.PROTECT)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    upstream_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    user_tag = models.CharField(max_length=200, blank=True)  # the request body's "user"
    meta = models.JSONField(default=dict, blank=True)  # routing details (alias, strategy, attempts, cache)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Activity log, newest first, keyset-paginated on (created_at, id).
            models.Index(fields=["-created_at", "-id"], name="ledger_recent_idx"),
            # Activity log filtered by key; spend this period per key (budgets).
            models.Index(fields=["api_key", "-created_at"], name="ledger_key_recent_idx"),
            # Activity log filtered by model; a model's own spend.
            models.Index(fields=["served_model", "-created_at"], name="ledger_model_recent_idx"),
            # The log filtered by model (usage.selectors.ledger.MODEL_NAME, the rollups' model), newest first:
            # a rare model + provider + status walks that model's rows only, not every row.
            models.Index(
                Coalesce(NullIf("served_model", Value("")), "requested_model"),
                F("created_at").desc(),
                name="ledger_model_name_idx",
            ),
            # GET /api/v1/generation?id= by OpenRouter's generation id (usage.selectors.generations).
            models.Index(fields=["generation_id"], name="ledger_generation_idx"),
            # "Your traffic" re-priced (usage.selectors.repricing): the rows above a prompt-size threshold,
            # and those with web searches, in a time range (the rollups price the other rows).
            models.Index(fields=["prompt_tokens", "created_at"], name="ledger_prompt_size_idx"),
            models.Index(
                fields=["created_at"],
                condition=models.Q(web_search_requests__gt=0),
                name="ledger_web_search_idx",
            ),
            # The reconciliation's rows to ask about (usage.services.reconcile): few, oldest first; and with
            # the next one, /spend/'s count of estimated costs in a range (usage.selectors.spend).
            models.Index(
                fields=["created_at"],
                condition=models.Q(cost_state="estimated"),
                name="ledger_estimated_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=models.Q(cost_state="unreconciled"),
                name="ledger_unreconciled_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.requested_model} {self.status}"

    @property
    def spent_cost(self) -> Decimal | None:
        """What the request cost as budgets and spend pages count it: the reported cost, else ours."""
        return spent_cost(self.reported_cost, self.computed_cost)


class Rollup(models.Model):
    """Aggregates of ledger rows per (period, key, endpoint, model, provider, status): what HourlyRollup and
    DailyRollup both hold. The aggregate columns are listed once, here (ROLLUP_AGGREGATES);
    usage.selectors.rollups computes them from the ledger."""

    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=40, blank=True)  # "": rolled up before endpoints were (0019)
    model = models.CharField(max_length=200, blank=True)  # served model, else the requested one
    provider = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=12, choices=LedgerEntry.Status.choices)
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_1h_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    reported_cost = models.DecimalField(**COST, default=0)  # rows without a reported cost count 0
    computed_cost = models.DecimalField(**COST, default=0)  # rows without a computed cost count 0
    # What was spent: the reported cost where OpenRouter gave one, else ours (as budgets count it).
    cost = models.DecimalField(**COST, default=0)
    cache_savings = models.DecimalField(**PRICE, default=0)  # cached tokens × (input − cache-read price)
    # What the response cache saved: the original cost of each `cached` row (its meta["saved_cost"]).
    response_cache_saved = models.DecimalField(**COST, default=0)
    latency_ms_sum = models.PositiveBigIntegerField(default=0)

    class Meta:
        abstract = True


DIMENSIONS = ("api_key", "endpoint", "model", "provider", "status")
ROLLUP_AGGREGATES = tuple(
    field.name for field in Rollup._meta.fields if field.name not in DIMENSIONS and not field.primary_key
)


class HourlyRollup(Rollup):
    """The ledger per (hour, key, endpoint, model, provider, status), rebuilt per whole hour (idempotent)."""

    hour = models.DateTimeField()
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="rollups"
    )

    class Meta:
        ordering = ["hour"]
        indexes = [
            # Spend pages: a time range, grouped by model / key / provider.
            models.Index(fields=["hour"], name="rollup_hour_idx"),
            # Keys page: a key's spend in its budget period.
            models.Index(fields=["api_key", "hour"], name="rollup_key_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.model} {self.status}: {self.requests}"


class DailyRollup(Rollup):
    """HourlyRollup summed per UTC day (same dimensions), rebuilt with its hours, for long ranges."""

    day = models.DateTimeField()  # midnight UTC
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="daily_rollups"
    )

    class Meta:
        ordering = ["day"]
        indexes = [
            # Spend pages over whole days: a range of days, grouped by model / key / provider.
            models.Index(fields=["day"], name="rollup_day_idx"),
            # Keys page: a key's spend since its budget period began.
            models.Index(fields=["api_key", "day"], name="rollup_key_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.model} {self.status}: {self.requests}"


class RollupState(models.Model):
    """Where the rollup task got to: every hour before `complete_until` is rolled up."""

    name = models.CharField(max_length=40, unique=True, default="hourly")
    complete_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} rollups complete until {self.complete_until}"


class Upstream(TimestampedModel):
    """An OpenAI-compatible server the gateway may send requests to (docs/routing.md).

    The key's value is never stored: `api_key_env` names the environment variable holding it. The row named
    "openrouter" (created by a migration, empty prefix) is the default; an empty `base_url` means
    settings.OPENROUTER_BASE_URL. Validation (http(s) URL, variable present, no overlapping prefixes) is
    usage.services.upstreams.upstream_validate, called by the admin's form (usage.admin.UpstreamForm).
    """

    DEFAULT_NAME = "openrouter"

    name = models.SlugField(max_length=50, unique=True)
    base_url = models.CharField(
        max_length=500, blank=True, help_text="e.g. http://127.0.0.1:8001/v1; empty: OPENROUTER_BASE_URL"
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the key; empty for a keyless server",
    )
    model_prefix = models.CharField(
        max_length=100, blank=True, help_text='Model ids starting with this go here, e.g. "local/"'
    )
    strip_prefix = models.BooleanField(
        default=True,
        help_text="Send the model id without the prefix (local/qwen3-8b → qwen3-8b); off: exactly as sent",
    )
    endpoints = models.CharField(
        max_length=200,
        blank=True,
        help_text="The endpoints it serves, comma-separated, among chat/completions, completions, messages, "
        "responses, embeddings; empty: all of them for OpenRouter, chat/completions and completions for "
        "another upstream",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UpstreamProbe(models.Model):
    """One health check of an upstream (GET <base_url>/models); the last UPSTREAM_PROBE_KEEP are kept."""

    upstream = models.ForeignKey(Upstream, on_delete=models.CASCADE, related_name="probes")
    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    # The URL probed: the status page counts only probes of the current one (blank: recorded before 0020).
    base_url = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [
            # Status page and pruning: an upstream's latest probes.
            models.Index(fields=["upstream", "-checked_at"], name="probe_upstream_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.upstream_id} {self.checked_at:%Y-%m-%d %H:%M} {'up' if self.ok else 'down'}"


class Alias(TimestampedModel):
    """A model name of ours (e.g. "team/fast") standing for a list of models, chosen by a strategy.

    See docs/gateway.md (Aliases). Validation (no loops, members that exist, no clash with a catalogue id or
    an upstream prefix) is in usage.services.aliases, called by the admin's forms.
    """

    class Strategy(models.TextChoices):
        ORDERED = "ordered", "ordered (first member first, the rest as fallbacks)"
        CHEAPEST = "cheapest", "cheapest (current catalogue price for the request's token mix)"
        FASTEST = "fastest", "fastest (p50 latency in our ledger over the last hour)"
        WEIGHTED = "weighted", "weighted (random by weight, the rest as fallbacks)"

    name = models.CharField(max_length=200, unique=True)
    strategy = models.CharField(max_length=10, choices=Strategy.choices, default=Strategy.ORDERED)
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "aliases"

    def __str__(self) -> str:
        return self.name


class AliasMember(models.Model):
    """One model (or another alias, flattened in its place) of an alias, in order."""

    alias = models.ForeignKey(Alias, on_delete=models.CASCADE, related_name="members")
    position = models.PositiveSmallIntegerField(default=0)
    model = models.CharField(max_length=200, help_text="A model id, or the name of another alias")
    weight = models.PositiveIntegerField(default=1, help_text="For the weighted strategy")
    max_price_per_million = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Skip this member when its blended price for the request is above this (USD per 1M tokens)",
    )

    class Meta:
        ordering = ["alias", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["alias", "model"], name="usage_alias_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.alias_id}: {self.model}"


from usage.models.alerts import (  # noqa: E402, F401  (their own module)
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertState,
    AlertSubscription,
)
from usage.models.captures import CapturedExchange  # noqa: E402, F401  (its own module)
from usage.models.counters import BudgetReservation, KeyCounter  # noqa: E402, F401  (their own module)
from usage.models.gateway_state import CachedResponse, KeylessRefusal  # noqa: E402, F401
