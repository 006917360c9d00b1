"""Spikes the alert rules watch: spend (per key or model: the last hour against the median hour of the
previous 7 days, or the last day against the median day of the previous 28) and errors (per model or
upstream over the last 15 minutes). Spend comes from the rollups and the raw tail, as the spend pages'."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from statistics import median

from django.db.models import Count, Q
from django.db.models.fields.json import KT

from usage.models import AlertRule, ApiKey, LedgerEntry, Upstream
from usage.selectors.alert_observations import Observation, money, number, percent
from usage.selectors.ledger import MODEL_NAME
from usage.selectors.rollups import floor_day, floor_hour
from usage.selectors.spend_totals import spend_per

ERROR_WINDOW = timedelta(minutes=15)
WINDOWS = {  # window: (its length, the baseline's bucket, buckets in the baseline, how the text says it)
    "hour": (timedelta(hours=1), "hour", 7 * 24, "hour", "the previous 7 days"),
    "day": (timedelta(days=1), "day", 28, "day", "the previous 28 days"),
}


def spend_spike_observations(
    *, rule: AlertRule, now: datetime, active: set[str], memo: dict
) -> list[Observation]:
    """Only subjects that could be on (their last window reached the minimum amount) or are on get their
    baseline read; `memo` shares the last window's figures between the rules of one evaluation."""
    length, bucket, count, unit, baseline_name = WINDOWS[rule.window]
    dim = "api_key_id" if rule.scope == AlertRule.Scope.KEY else "model"
    if ("recent", dim, rule.window) not in memo:
        memo["recent", dim, rule.window] = spend_per(dim=dim, start=now - length, end=now)
    recent = memo["recent", dim, rule.window]
    prefix = f"{rule.scope}:"
    on = {subject.removeprefix(prefix) for subject in active if subject.startswith(prefix)}
    if rule.scope == AlertRule.Scope.KEY:
        on = {int(subject) for subject in on if subject.isdigit()}
    subjects = {key[0] for key, spent in recent.items() if spent >= rule.min_amount} | on
    if rule.scope == AlertRule.Scope.KEY:
        subjects = {s for s in subjects if s is not None}
        if rule.api_key_id is not None:
            subjects &= {rule.api_key_id}
        names = _shared(memo, ("keys",), subjects, lambda ids: ApiKey.objects.in_bulk(ids))
    elif rule.model:
        subjects &= {rule.model}
    if not subjects:
        return []
    baseline_end = (floor_hour if bucket == "hour" else floor_day)(now - length)
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    baseline_start = baseline_end - count * step
    baseline = partial(spend_per, dim=dim, start=baseline_start, end=baseline_end, bucket=bucket)
    buckets = _shared(memo, ("baseline", dim, rule.window), subjects, lambda some: baseline(subjects=some))
    starts = [baseline_start + i * step for i in range(count)]
    observations = []
    for subject in sorted(subjects, key=str):
        if rule.scope == AlertRule.Scope.KEY:
            key = names.get(subject)
            if key is None:
                continue
            label, who, key_id = f"key {key.name}", f"Key {key.name} ({key.prefix}…)", key.pk
        else:
            label, who, key_id = f"model {subject}", f"Model {subject}", None
        last = recent.get((subject,), Decimal(0))
        middle = Decimal(median([buckets.get((subject, start), Decimal(0)) for start in starts]))
        holds = last >= rule.min_amount and last > rule.factor * middle
        title = f"Spend spike: {label}" if holds else f"Spend back to normal: {label}"
        text = (
            f"{who} spent {money(last)} in the last {unit}; the median {unit} of {baseline_name} was "
            f"{money(middle)} (the rule alerts above {number(rule.factor)}× that "
            f"and {money(rule.min_amount)})."
        )
        observations.append(
            Observation(
                subject=f"{rule.scope}:{subject}", holds=holds, title=title, text=text, api_key_id=key_id
            )
        )
    return observations


def _shared(memo: dict, name: tuple, wanted: set, read: Callable[[list], dict]) -> dict:
    """What `read` gives for the `wanted` subjects, kept in `memo` for the other rules of the evaluation: each
    subject is read once, by the first rule that wants it (rules of one kind mostly watch the same ones)."""
    done, values = memo.setdefault(name, (set(), {}))
    missing = wanted - done
    if missing:
        values.update(read(sorted(missing, key=str)))
        done |= missing
    return values


def _error_counts(scope: str, now: datetime) -> dict[str, tuple[int, int]]:
    """(requests, errors) per model or upstream over the last 15 minutes, of the requests sent upstream."""
    rows = LedgerEntry.objects.filter(created_at__gte=now - ERROR_WINDOW, created_at__lt=now).exclude(
        status__in=[LedgerEntry.Status.REJECTED, LedgerEntry.Status.CACHED]  # never sent upstream
    )
    if scope == AlertRule.Scope.UPSTREAM:
        default = Upstream.DEFAULT_NAME  # rows without meta["upstream"] went to OpenRouter
        rows = rows.annotate(subject=KT("meta__upstream"))
    else:
        default = ""
        rows = rows.annotate(subject=MODEL_NAME)
    grouped = rows.values("subject").annotate(
        requests=Count("pk"), errors=Count("pk", filter=Q(status=LedgerEntry.Status.ERROR))
    )
    counts: dict[str, tuple[int, int]] = {}
    for row in grouped.order_by():
        name = row["subject"] or default
        requests, errors = counts.get(name, (0, 0))
        counts[name] = (requests + row["requests"], errors + row["errors"])
    return counts


def error_spike_observations(
    *, rule: AlertRule, now: datetime, active: set[str], memo: dict
) -> list[Observation]:
    """Per model or upstream with requests in the last 15 minutes, or on (`active`); `memo` shares the
    counts between the rules of one evaluation."""
    if ("errors", rule.scope) not in memo:
        memo["errors", rule.scope] = _error_counts(rule.scope, now)
    counts = memo["errors", rule.scope]
    if rule.scope == AlertRule.Scope.UPSTREAM:
        prefix, what = "upstream", "Upstream"
        only = rule.upstream.name if rule.upstream_id is not None else None
    else:
        prefix, what = "model", "Model"
        only = rule.model or None
    if only is not None:
        counts = {name: value for name, value in counts.items() if name == only}
    observations = []
    for name in sorted(set(counts) | {s.partition(":")[2] for s in active}):
        requests, errors = counts.get(name, (0, 0))
        subject = f"{prefix}:{name}"
        if requests == 0:
            holds = False if subject in active else None
            text = f"{what} {name}: no requests in the last 15 minutes."
        else:
            share = Decimal(errors * 100) / requests
            holds = (share > rule.error_percent) if requests >= rule.min_requests else None
            text = (
                f"{what} {name}: {errors} errors in {requests} requests in the last 15 minutes "
                f"({percent(share)}; the rule alerts above "
                f"{number(rule.error_percent)}% with at least {rule.min_requests} requests)."
            )
        title = f"Error spike: {prefix} {name}" if holds else f"Errors back to normal: {prefix} {name}"
        observations.append(Observation(subject=subject, holds=holds, title=title, text=text))
    return observations
