"""Catalogue changes that touch the traffic, for the alert rules of kind catalog_change: a model with traffic
in the 30 days before a sync was repriced (the % change per category, and what those 30 days would have cost
at the new prices, row by row: usage.selectors.repricing) or retired (the requests it served, the keys)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count

from catalog.models import CatalogModel, SyncRun
from catalog.price_schedule import PriceSchedule
from catalog.pricing import CATEGORY_LABELS, PER_TOKEN, usd, usd_cost, usd_per_m
from catalog.selectors.prices import price_at
from usage.models import ApiKey, LedgerEntry
from usage.selectors.alert_observations import Observation, percent, when
from usage.selectors.ledger import model_is
from usage.selectors.repricing import REACHED, traffic_repriced

TRAFFIC_DAYS = 30


class _Everyone:
    """The whole ledger, as staff see it (usage.selectors.visibility): the alerts are about all traffic."""

    is_staff = True


def _price(category: str, value: str | None) -> str:
    if value is None:
        return "variable"
    number = Decimal(value)
    return usd_per_m(number) if category in PER_TOKEN else usd(number)


def _category_order(category: str) -> tuple[int, str]:
    """The pages' order (input, output, cache...), then the other categories by name."""
    order = list(CATEGORY_LABELS)
    return (order.index(category) if category in order else len(order), category)


def _category_lines(old: dict, new: dict) -> list[str]:
    lines = []
    for category in sorted(set(old) | set(new), key=_category_order):
        before, after = old.get(category, "0"), new.get(category, "0")
        if before == after:
            continue
        label = CATEGORY_LABELS.get(category, category)
        change = ""
        if before is not None and after is not None and Decimal(before) != 0:
            share = (Decimal(after) - Decimal(before)) / Decimal(before) * 100
            change = f" ({'+' if share > 0 else ''}{percent(share)})"
        unit = " per 1M tokens" if category in PER_TOKEN else ""
        lines.append(f"- {label}: {_price(category, before)} → {_price(category, after)}{unit}{change}")
    return lines


def signed_cost(value: Decimal) -> str:
    return f"{'-' if value < 0 else '+'}{usd_cost(abs(value))}"


def repriced_observation(*, run: SyncRun, change: dict) -> Observation | None:
    """The alert for one repriced model of the run, if it had traffic in the 30 days before it."""
    model_id = change["model_id"]
    now = run.started_at
    model = CatalogModel.objects.filter(model_id=model_id).first()
    version = None if model is None else price_at(catalog_model_id=model.pk, at=now)
    if version is None:
        return None
    schedule = PriceSchedule.of(version.prices(), version.overrides)
    traffic = traffic_repriced(
        user=_Everyone(),
        schedules=[schedule],
        now=now,
        start=now - timedelta(days=TRAFFIC_DAYS),
        end=now,
        model_id=model_id,
    )
    if not traffic.totals.entries:
        return None
    spent, at_new = traffic.totals.cost, traffic.costs[0]
    lines = [f"The catalogue sync of {when(now)} changed the prices of {model_id}:"]
    lines += _category_lines(change.get("old") or {}, change.get("new") or {})
    requests = traffic.totals.requests
    usage = f"Your last {TRAFFIC_DAYS} days on it: {requests} requests, which cost {usd_cost(spent)}"
    if at_new is None:
        lines.append(f"{usage}; at the new prices: variable.")
        title = f"Model {model_id} repriced"
    else:
        difference = at_new - spent
        share = f", {'+' if difference > 0 else ''}{percent(difference / spent * 100)}" if spent else ""
        lines.append(
            f"{usage}; at the new prices they would have cost {usd_cost(at_new)}"
            f" ({signed_cost(difference)}{share})."
        )
        title = f"Model {model_id} repriced: {signed_cost(difference)} on your last {TRAFFIC_DAYS} days"
    return Observation(subject=f"model:{model_id}", holds=True, title=title, text="\n".join(lines))


def retired_observation(*, run: SyncRun, model_id: str) -> Observation | None:
    """The alert for one retired model of the run, if it served requests in the 30 days before it."""
    now = run.started_at
    rows = LedgerEntry.objects.filter(
        model_is(model_id),
        created_at__gte=now - timedelta(days=TRAFFIC_DAYS),
        created_at__lt=now,
        status__in=REACHED,
    )
    per_key = dict(rows.values_list("api_key_id").annotate(n=Count("pk")).order_by())
    served = sum(per_key.values())
    if not served:
        return None
    keys = ApiKey.objects.filter(pk__in=[pk for pk in per_key if pk is not None]).order_by("name", "pk")
    names = ", ".join(f"{key.name} ({key.prefix}…)" for key in keys) or "none"
    text = (
        f"The catalogue sync of {when(now)} no longer lists {model_id}: it is retired. In the last "
        f"{TRAFFIC_DAYS} days it served {served} requests, for these keys: {names}."
    )
    return Observation(subject=f"model:{model_id}", holds=True, title=f"Model {model_id} retired", text=text)


def catalog_change_observations(*, run: SyncRun) -> list[Observation]:
    """The run's repriced and retired models that touch the traffic, one observation each."""
    changes = run.changes or {}
    observations = [repriced_observation(run=run, change=change) for change in changes.get("repriced", [])]
    observations += [
        retired_observation(run=run, model_id=model_id) for model_id in changes.get("retired", [])
    ]
    return [observation for observation in observations if observation is not None]


def sync_runs_after(*, run_id: int | None) -> list[SyncRun]:
    """The sync runs that ended ok after `run_id` (None: the latest one only), oldest first."""
    runs = SyncRun.objects.filter(status=SyncRun.Status.OK)
    if run_id is None:
        latest = runs.order_by("-pk").first()
        return [] if latest is None else [latest]
    return list(runs.filter(pk__gt=run_id).order_by("pk"))
