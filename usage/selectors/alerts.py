"""What each alert rule sees now, per subject (usage.services.alerts.evaluate turns it into alerts), and the
/alerts/ page's rows. Each observation carries the exact title and text of the alert it would raise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.db.models import Q, QuerySet

from usage.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertSubscription,
    ApiKey,
    Upstream,
    UpstreamProbe,
)
from usage.periods import period_end, period_start
from usage.selectors.alert_observations import Observation, money, percent, when
from usage.selectors.alert_spikes import error_spike_observations, spend_spike_observations
from usage.selectors.keys import key_rows
from usage.selectors.spend_totals import spend_by_key
from usage.selectors.upstreams import upstream_base_url


def _key_name(key: ApiKey) -> str:
    return f"{key.name} ({key.prefix}…)"


def _active_budget_keys(now: datetime, memo: dict) -> list[ApiKey]:
    """Every active key with a budget (once per evaluation: `memo` is shared by its rules)."""
    if "keys" not in memo:
        keys = ApiKey.objects.filter(revoked_at__isnull=True, budget_usd__isnull=False)
        keys = keys.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        memo["keys"] = list(keys.order_by("pk"))
    return memo["keys"]


def _watched_keys(rule: AlertRule, now: datetime, memo: dict) -> list[ApiKey]:
    """The rule's key, or every active key with a budget."""
    keys = _active_budget_keys(now, memo)
    if rule.api_key_id is None:
        return keys
    if "keys_by_id" not in memo:
        memo["keys_by_id"] = {key.pk: key for key in keys}
    key = memo["keys_by_id"].get(rule.api_key_id)
    return [] if key is None else [key]


def _period_spend(now: datetime, memo: dict) -> dict[int, Decimal]:
    """Each active budgeted key's spend in its current budget period (once per evaluation)."""
    if "period_spend" not in memo:
        keys = _active_budget_keys(now, memo)
        since = {key.pk: period_start(key.budget_period, now) for key in keys}
        memo["period_spend"] = spend_by_key(since=since, end=now) if since else {}
    return memo["period_spend"]


def _budget_shares(now: datetime, memo: dict) -> dict[int, tuple[Decimal, Decimal]]:
    """Each active budgeted key's spend in its period and the percent of its budget (once per evaluation)."""
    if "shares" not in memo:
        spent = _period_spend(now, memo)
        memo["shares"] = {
            key.pk: (spent.get(key.pk, Decimal(0)), spent.get(key.pk, Decimal(0)) / key.budget_usd * 100)
            for key in _active_budget_keys(now, memo)
            if key.budget_usd > 0
        }
    return memo["shares"]


def budget_observations(*, rule: AlertRule, now: datetime, active: set[str], memo: dict) -> list[Observation]:
    """Per key that reached a threshold, or had (`active`): the highest threshold (percent of the period's
    budget) its spend has reached."""
    thresholds = sorted({int(value) for value in rule.thresholds or [] if int(value) > 0})
    if not thresholds:
        return []
    keys = [key for key in _watched_keys(rule, now, memo) if key.budget_usd > 0]
    shares = _budget_shares(now, memo)
    observations = []
    for key in keys:
        key_spent, share = shares[key.pk]
        reached = [threshold for threshold in thresholds if share >= threshold]
        if not reached and f"key:{key.pk}" not in active:
            continue  # off, and was off: nothing to say
        observations.append(
            Observation(
                subject=f"key:{key.pk}",
                holds=bool(reached),
                rank=reached[-1] if reached else 0,
                api_key_id=key.pk,
                describe=partial(_budget_message, key, key_spent, share, reached, thresholds, now),
            )
        )
    return observations


def _budget_message(key: ApiKey, spent: Decimal, share: Decimal, reached: list[int], thresholds, now):
    start = period_start(key.budget_period, now)
    text = f"Key {_key_name(key)} has spent {money(spent)} of its {_budget(key)} ({percent(share)})"
    if start is not None:
        text += f" since {when(start)}; the budget resets {when(period_end(key.budget_period, start))}."
    else:
        text += "."
    if reached:
        return f"Key {key.name}: {reached[-1]}% of its budget spent", text
    return f"Key {key.name}: back under {thresholds[0]}% of its budget", text


def _budget(key: ApiKey) -> str:
    if key.budget_period == ApiKey.Period.NONE:
        return f"budget of {money(key.budget_usd)} (no reset)"
    return f"{key.budget_period} budget of {money(key.budget_usd)}"


def forecast_observations(
    *, rule: AlertRule, now: datetime, active: set[str], memo: dict
) -> list[Observation]:
    """Per key that runs out, or did (`active`): whether, at its last 7 days' rate, its budget runs out
    within `rule.days` days."""
    horizon = now + timedelta(days=rule.days)
    if "key_rows" not in memo:
        keys = _active_budget_keys(now, memo)
        rows = key_rows(keys=keys, now=now, spent=_period_spend(now, memo))
        memo["key_rows"] = {row.key.pk: row for row in rows}
    observations = []
    for row in (memo["key_rows"][key.pk] for key in _watched_keys(rule, now, memo)):
        key = row.key
        holds = row.runs_out_at is not None and row.runs_out_at <= horizon
        if not holds and f"key:{key.pk}" not in active:
            continue
        observations.append(
            Observation(
                subject=f"key:{key.pk}",
                holds=holds,
                api_key_id=key.pk,
                describe=partial(_forecast_message, row, holds, rule.days),
            )
        )
    return observations


def _forecast_message(row, holds: bool, days: int) -> tuple[str, str]:
    key = row.key
    spends = f"Key {_key_name(key)} spends {money(row.daily_rate)} a day (average of the last 7 days)"
    if holds:
        return f"Key {key.name}: budget runs out within {days} days", (
            f"{spends}: {money(row.remaining)} of its {_budget(key)} is left, "
            f"which runs out around {row.runs_out_at:%Y-%m-%d %H:00} UTC."
        )
    return f"Key {key.name}: budget no longer runs out within {days} days", (
        f"{spends}: {money(row.remaining)} of its {_budget(key)} is left; {row.forecast}."
    )


def upstream_observations(
    *, rule: AlertRule, now: datetime, active: set[str], memo: dict
) -> list[Observation]:
    """Per upstream: down after `rule.probes` failed probes in a row; back up at its first good probe."""
    if "upstreams" not in memo:
        memo["upstreams"] = list(Upstream.objects.filter(enabled=True).order_by("pk"))
    upstreams = memo["upstreams"]
    if rule.upstream_id is not None:
        upstreams = [upstream for upstream in upstreams if upstream.pk == rule.upstream_id]
    observations = []
    for upstream in upstreams:
        probes = _latest_probes(upstream, rule.probes, memo)
        if not probes:
            continue
        latest = probes[0]
        where = f"Upstream {upstream.name} ({upstream_base_url(upstream)})"
        if latest.ok:
            observations.append(
                Observation(
                    subject=f"upstream:{upstream.pk}",
                    holds=False,
                    title=f"Upstream {upstream.name} is back up",
                    text=(
                        f"{where} answered the probe at {when(latest.checked_at)} in {latest.latency_ms} ms."
                    ),
                )
            )
            continue
        down = len(probes) == rule.probes and not any(probe.ok for probe in probes)
        observations.append(
            Observation(
                subject=f"upstream:{upstream.pk}",
                holds=True if down else None,
                title=f"Upstream {upstream.name} is down",
                text=(
                    f"{where} failed its last {len(probes)} probes; "
                    f"the latest, at {when(latest.checked_at)}: {latest.error or 'failed'}."
                ),
            )
        )
    return observations


def _latest_probes(upstream: Upstream, count: int, memo: dict) -> list[UpstreamProbe]:
    """The upstream's latest `count` probes, newest first; read once per evaluation (again only for a rule
    that asks for more than were read)."""
    asked, probes = memo.get(("probes", upstream.pk), (0, []))
    if count > asked:
        probes = list(UpstreamProbe.objects.filter(upstream=upstream).order_by("-checked_at", "-pk")[:count])
        memo["probes", upstream.pk] = (count, probes)
    return probes[:count]


OBSERVERS = {
    AlertRule.Kind.BUDGET: budget_observations,
    AlertRule.Kind.FORECAST: forecast_observations,
    AlertRule.Kind.UPSTREAM_DOWN: upstream_observations,
}


def rule_observations(
    *, rule: AlertRule, now: datetime, active: set[str], memo: dict | None = None
) -> list[Observation]:
    """What the rule sees now; `active`: the subjects whose condition is on (a spike rule reports on those
    even when they had no traffic since); `memo`: figures shared by the rules of one evaluation."""
    memo = {} if memo is None else memo
    if rule.kind == AlertRule.Kind.SPEND_SPIKE:
        return spend_spike_observations(rule=rule, now=now, active=active, memo=memo)
    if rule.kind == AlertRule.Kind.ERROR_SPIKE:
        return error_spike_observations(rule=rule, now=now, active=active, memo=memo)
    return OBSERVERS[rule.kind](rule=rule, now=now, active=active, memo=memo)


# --- Channels, and the /alerts/ page ---------------------------------------------------------------------
def channel_secret(channel: AlertChannel) -> str:
    """The webhook's signing key from the environment ("" when the variable is unset or none is named)."""
    return os.environ.get(channel.secret_env, "").strip() if channel.secret_env else ""


def channel_problem(channel: AlertChannel) -> str:
    """Why the channel cannot deliver ("" when it can): a webhook whose signing variable is unset."""
    if channel.kind == AlertChannel.Kind.WEBHOOK:
        if not channel.secret_env:
            return "no signing key variable named"
        if not channel_secret(channel):
            return f"the environment variable {channel.secret_env} is not set"
    return ""


def channel_state(channel: AlertChannel) -> str:
    """As the admin and /alerts/ show it: "ok", "disabled" or "broken: <why>"."""
    if not channel.enabled:
        return "disabled"
    problem = channel_problem(channel)
    return f"broken: {problem}" if problem else "ok"


RECENT = 50  # alerts and deliveries shown on /alerts/


@dataclass
class AlertsPage:
    rules: list[AlertRule]
    alerts: list[Alert]
    deliveries: list[AlertDelivery]
    channels: list[tuple[AlertChannel, str]]  # staff only: each channel and its state


def alerts_page(*, user) -> AlertsPage:
    """/alerts/: the rules, the recent alerts and deliveries the user may see, and (staff) the channels."""
    channels = list(AlertChannel.objects.order_by("name")) if user.is_staff else []
    return AlertsPage(
        rules=list(visible_rules(user=user).order_by("name")),
        alerts=list(visible_alerts(user=user)[:RECENT]),
        deliveries=list(visible_deliveries(user=user)[:RECENT]),
        channels=[(channel, channel_state(channel)) for channel in channels],
    )


def subscribed_key_ids(*, user) -> set[int]:
    """The keys whose alerts the user asked to be e-mailed (the keys page's buttons)."""
    return set(AlertSubscription.objects.filter(user=user).values_list("api_key_id", flat=True))


def visible_alerts(*, user) -> QuerySet[Alert]:
    """Staff: every alert; others: the alerts about their own keys."""
    alerts = Alert.objects.select_related("rule", "api_key")
    return alerts if user.is_staff else alerts.filter(api_key__owner=user)


def visible_deliveries(*, user) -> QuerySet[AlertDelivery]:
    deliveries = AlertDelivery.objects.select_related("alert", "channel")
    return deliveries if user.is_staff else deliveries.filter(alert__api_key__owner=user)


def visible_rules(*, user) -> QuerySet[AlertRule]:
    """Staff: every rule; others: the rules about one of their keys, or about every key."""
    rules = AlertRule.objects.select_related("api_key", "upstream").prefetch_related("channels")
    if user.is_staff:
        return rules
    key_kinds = [AlertRule.Kind.BUDGET, AlertRule.Kind.FORECAST]
    return rules.filter(kind__in=key_kinds).filter(Q(api_key__isnull=True) | Q(api_key__owner=user))


def failed_deliveries_count() -> int:
    return AlertDelivery.objects.filter(status=AlertDelivery.Status.FAILED).count()
