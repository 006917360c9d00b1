"""Query-string and form input of the spend, activity and keys pages, validated into clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from usage.models import ENDPOINTS, ApiKey, LedgerEntry

HOUR = timedelta(hours=1)
EARLIEST = date(2020, 1, 1)  # nothing older can be in a ledger of OpenRouter requests
MAX_RANGE_DAYS = 3 * 366

RANGES = {
    "today": "Today",
    "7d": "7 days",
    "30d": "30 days",
    "month": "This month",
    "custom": "Custom",
}


ENDPOINT_CHOICES = [("", "any"), *((name, name) for name in ENDPOINTS)]


@dataclass(frozen=True)
class Period:
    name: str
    start: datetime
    end: datetime


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _check_dates(cleaned: dict, form: forms.Form) -> None:
    start, end = cleaned.get("start"), cleaned.get("end")
    for name in ("start", "end"):
        day = cleaned.get(name)
        if day is not None and not EARLIEST <= day <= timezone.now().date() + timedelta(days=1):
            form.add_error(name, f"Choose a date between {EARLIEST:%Y-%m-%d} and today.")
    if start and end and start > end:
        form.add_error("end", "The end date is before the start date.")
    elif start and end and (end - start).days > MAX_RANGE_DAYS:
        form.add_error("end", f"Choose a range of at most {MAX_RANGE_DAYS} days.")


class RangeForm(forms.Form):
    """?range=today|7d|30d|month|custom&start=YYYY-MM-DD&end=YYYY-MM-DD (custom: both days included), and
    &endpoint=<one of ENDPOINTS> for one endpoint's figures."""

    range = forms.ChoiceField(choices=list(RANGES.items()), required=False)
    # Labelled as the page labels them: its errors read "To: The end date is before the start date."
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    endpoint = forms.ChoiceField(choices=ENDPOINT_CHOICES, required=False)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("range") and (cleaned.get("start") or cleaned.get("end")):
            cleaned["range"] = "custom"  # dates alone mean a custom range
        if cleaned.get("range") == "custom" and not (cleaned.get("start") and cleaned.get("end")):
            self.add_error("start", "A custom range needs a start and an end date.")
        _check_dates(cleaned, self)
        return cleaned

    def period(self, now: datetime | None = None) -> Period:
        now = now or timezone.now()
        name = self.cleaned_data.get("range") or "7d"
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        if name == "custom":
            start = _day_start(self.cleaned_data["start"])
            end = min(_day_start(self.cleaned_data["end"]) + timedelta(days=1), now)
            return Period(name, start, max(end, start))
        if name == "today":
            start = _day_start(now.date())
        elif name == "month":
            start = _day_start(now.date().replace(day=1))
        else:
            start = this_hour - timedelta(days=7 if name == "7d" else 30) + HOUR
        return Period(name, start, now)


def _amount_field(*, label: str, digits: int, places: int) -> forms.DecimalField:
    """An optional bound of a range: a plain decimal number, 0 or more (never float, never NaN)."""
    return forms.DecimalField(
        required=False,
        label=label,
        min_value=0,
        max_digits=digits,
        decimal_places=places,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )


class ActivityFilterForm(forms.Form):
    key = forms.IntegerField(required=False, min_value=1, widget=forms.Select)
    model = forms.CharField(required=False, max_length=200, widget=forms.TextInput(attrs={"list": "models"}))
    provider = forms.CharField(
        required=False, max_length=100, widget=forms.TextInput(attrs={"list": "providers"})
    )
    status = forms.ChoiceField(choices=[("", "any"), *LedgerEntry.Status.choices], required=False)
    endpoint = forms.ChoiceField(choices=ENDPOINT_CHOICES, required=False)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    cost_min = _amount_field(label="Cost from ($)", digits=16, places=10)
    cost_max = _amount_field(label="Cost to ($)", digits=16, places=10)
    latency_min = _amount_field(label="Latency from (s)", digits=9, places=3)
    latency_max = _amount_field(label="Latency to (s)", digits=9, places=3)

    def __init__(self, *args, keys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].widget.choices = [("", "any")] + [(key.id, str(key)) for key in keys]

    def clean(self):
        cleaned = super().clean()
        _check_dates(cleaned, self)
        for low, high, what in (("cost_min", "cost_max", "cost"), ("latency_min", "latency_max", "latency")):
            lowest, highest = cleaned.get(low), cleaned.get(high)
            if lowest is not None and highest is not None and lowest > highest:
                self.add_error(high, f"The highest {what} is below the lowest.")
        return cleaned

    def latency_bounds_ms(self) -> tuple[int | None, int | None]:
        """The latency range in milliseconds (the ledger's unit; 3 decimal places of seconds are whole ms)."""
        low, high = self.cleaned_data.get("latency_min"), self.cleaned_data.get("latency_max")
        return (None if low is None else int(low * 1000), None if high is None else int(high * 1000))

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        start, end = self.cleaned_data.get("start"), self.cleaned_data.get("end")
        return (
            _day_start(start) if start else None,
            _day_start(end) + timedelta(days=1) if end else None,
        )


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    budget_usd = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=4, label="Budget (USD)"
    )
    budget_period = forms.ChoiceField(choices=ApiKey.Period.choices, initial=ApiKey.Period.MONTHLY)
    rpm_limit = forms.IntegerField(required=False, min_value=1, max_value=10**6, label="Requests / minute")
    tpm_limit = forms.IntegerField(required=False, min_value=1, max_value=10**9, label="Tokens / minute")
    allowed_models = forms.CharField(
        required=False,
        max_length=2000,
        label="Allowed models",
        help_text='Comma-separated exact ids or "author/*"; empty: every model',
        widget=forms.TextInput(attrs={"placeholder": "every model", "list": "model-ids"}),
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    cache_responses = forms.BooleanField(
        required=False,
        label="Cache responses",
        help_text="Answer repeated deterministic requests (temperature 0 or a seed) from the cache, free",
    )
    capture_bodies = forms.BooleanField(
        required=False,
        label="Capture bodies",
        help_text="Keep each request and reply (credentials redacted) to show on its activity page",
    )

    def clean_allowed_models(self) -> list[str]:
        """ "openai/gpt-4o, anthropic/*" -> ["openai/gpt-4o", "anthropic/*"] (as create_api_key --models)."""
        models = [part.strip() for part in self.cleaned_data.get("allowed_models", "").split(",")]
        models = [model for model in models if model]
        for model in models:
            author, _, slug = model.partition("/")
            if not author or not slug or any(char.isspace() for char in model):
                raise forms.ValidationError(f'"{model}" is neither a model id (author/slug) nor "author/*".')
        return models

    def clean_expires_at(self) -> datetime | None:
        moment = self.cleaned_data.get("expires_at")
        if moment is None:
            return None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if moment <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        return moment
