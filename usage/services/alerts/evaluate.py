"""Evaluating the alert rules: a condition alerts once when it starts (or reaches a higher level, e.g. 80 %
after 50 %) and once when it resolves, with a reminder every `reminder_minutes` while it lasts when the rule
asks for one. The state per (rule, subject) is AlertState; a subject no longer watched (a key revoked, an
upstream disabled) is set inactive without an alert."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from usage.models import Alert, AlertRule, AlertState
from usage.selectors.alerts import Observation, rule_observations
from usage.services.alerts.delivery import alert_raise

SCHEDULED_KINDS = (
    AlertRule.Kind.BUDGET,
    AlertRule.Kind.FORECAST,
    AlertRule.Kind.SPEND_SPIKE,
    AlertRule.Kind.ERROR_SPIKE,
    AlertRule.Kind.UPSTREAM_DOWN,
)


@dataclass
class EvaluationResult:
    rules: int = 0
    fired: int = 0
    resolved: int = 0
    reminders: int = 0
    alert_ids: list[int] = field(default_factory=list)


def alerts_evaluate(*, now: datetime | None = None, kinds=SCHEDULED_KINDS) -> EvaluationResult:
    """Evaluate every enabled rule of these kinds; record the alerts raised and their pending deliveries.

    One transaction, the rules' rows locked (in id order) for its length: two evaluations at once never
    alert twice, the second waits and then finds the states the first left."""
    now = now or timezone.now()
    result = EvaluationResult()
    memo: dict = {}  # figures the rules share (each key's spend this period...), read once
    with transaction.atomic():
        rules = AlertRule.objects.select_for_update().filter(enabled=True, kind__in=kinds).order_by("pk")
        rules = list(rules)
        # Every rule's active states in one query (not one per rule).
        active: dict[int, dict[str, AlertState]] = defaultdict(dict)
        for state in AlertState.objects.filter(rule__in=rules, active=True):
            active[state.rule_id][state.subject] = state
        for rule in rules:
            rule_evaluate(rule=rule, now=now, result=result, memo=memo, states=active[rule.pk])
    return result


def rule_evaluate(
    *, rule: AlertRule, now: datetime, result: EvaluationResult, memo: dict, states: dict[str, AlertState]
) -> None:
    """One rule (its row locked by the caller), given its active `states` by subject: only the subjects that
    are on, or were, are looked at."""
    result.rules += 1
    observations = rule_observations(rule=rule, now=now, active=set(states), memo=memo)
    starting = [seen.subject for seen in observations if seen.holds and seen.subject not in states]
    if starting:  # a condition on again: its state from last time, if any
        states.update((s.subject, s) for s in AlertState.objects.filter(rule=rule, subject__in=starting))
    seen = set()
    for observation in observations:
        seen.add(observation.subject)
        _apply(rule, states.get(observation.subject), observation, now, result)
    for subject, state in states.items():
        if state.active and subject not in seen:
            state.active, state.level, state.resolved_at = False, "", now
            state.save(update_fields=["active", "level", "resolved_at"])


def _apply(
    rule: AlertRule, state: AlertState | None, seen: Observation, now: datetime, result: EvaluationResult
) -> None:
    if seen.holds is None:
        return
    if state is None:
        if not seen.holds:
            return
        state = AlertState(rule=rule, subject=seen.subject)
    rank = int(state.level or 0)
    if seen.holds and (not state.active or seen.rank > rank):
        event = Alert.Event.FIRED
        state.active, state.started_at = True, now if not state.active else state.started_at
        result.fired += 1
    elif seen.holds and _reminder_due(rule, state, now):
        event = Alert.Event.REMINDER
        result.reminders += 1
    elif not seen.holds and state.active:
        event = Alert.Event.RESOLVED
        state.active, state.resolved_at = False, now
        result.resolved += 1
    else:
        if seen.holds and seen.rank != rank:  # a lower level while still on: remembered, no alert
            state.level = str(seen.rank)
            state.save(update_fields=["level"])
        return
    state.level = str(seen.rank) if state.active else ""
    state.last_sent_at = now
    state.save()
    title, text = seen.message()
    title = f"Reminder: {title}" if event == Alert.Event.REMINDER else title
    alert = alert_raise(
        rule=rule,
        event=event,
        subject=seen.subject,
        title=title,
        text=text,
        api_key_id=seen.api_key_id,
        now=now,
    )
    result.alert_ids.append(alert.pk)


def _reminder_due(rule: AlertRule, state: AlertState, now: datetime) -> bool:
    if not rule.reminder_minutes or state.last_sent_at is None:
        return False
    return state.last_sent_at + timedelta(minutes=rule.reminder_minutes) <= now
