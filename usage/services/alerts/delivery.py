"""Alerts raised and delivered: each alert gets one delivery per channel of its rule (and per key holder who
opted in), each sent on its own, concurrently with the others, within ALERT_TIMEOUT_SECONDS: a channel that
times out delays no other. A failed attempt is retried after ALERT_RETRY_SECONDS, doubled after each failure,
up to ALERT_DELIVERY_ATTEMPTS attempts; then the delivery is failed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from usage.models import Alert, AlertChannel, AlertDelivery, AlertRule, AlertSubscription
from usage.services.alerts.channels import DeliveryError, Message, Target, channel_target, send

MAX_WORKERS = 8
BATCH = 200  # deliveries per pass: the rest wait for the next one


def alert_raise(
    *,
    rule: AlertRule | None,
    event: str,
    subject: str,
    title: str,
    text: str,
    api_key_id: int | None = None,
    channels: list[AlertChannel] | None = None,
    now: datetime | None = None,
) -> Alert:
    """Record an alert and its pending deliveries: the rule's enabled channels (or `channels`), and the
    e-mail of each key holder who opted in to this key's alerts."""
    now = now or timezone.now()
    if channels is None:
        channels = list(rule.channels.filter(enabled=True)) if rule is not None else []
    with transaction.atomic():
        alert = Alert.objects.create(
            rule=rule,
            api_key_id=api_key_id,
            subject=subject,
            event=event,
            title=title[:300],
            message=text,
            created_at=now,
        )
        deliveries = [
            AlertDelivery(alert=alert, channel=channel, created_at=now, next_attempt_at=now)
            for channel in channels
        ]
        if api_key_id is not None and event != Alert.Event.TEST:
            deliveries += [
                AlertDelivery(alert=alert, recipient=email, created_at=now, next_attempt_at=now)
                for email in subscriber_emails(api_key_id=api_key_id)
            ]
        AlertDelivery.objects.bulk_create(deliveries)
    return alert


def subscriber_emails(*, api_key_id: int) -> list[str]:
    """The e-mails of the key's owner if they opted in: the subscriber must still own the key (a key given to
    someone else stops their alerts), and a blank e-mail receives nothing."""
    rows = AlertSubscription.objects.filter(api_key_id=api_key_id, api_key__owner=F("user")).exclude(
        user__email=""
    )
    return sorted({row.user.email for row in rows.select_related("user")})


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    sent: int
    failed: int  # attempts that failed this pass (retried later, or given up)
    given_up: int


def deliveries_send(*, now: datetime | None = None, alert_ids: list[int] | None = None) -> DeliveryResult:
    """Send the pending deliveries that are due (of these alerts only, when given), concurrently."""
    now = now or timezone.now()
    due = AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now)
    if alert_ids is not None:
        due = due.filter(alert_id__in=alert_ids)
    rows = list(
        due.select_related("alert", "alert__rule", "channel").order_by("next_attempt_at", "pk")[:BATCH]
    )
    claimed = [row for row in rows if _claim(row, now)]
    jobs = [(row, _target(row), _message(row.alert)) for row in claimed]
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(jobs)))) as pool:
        errors = list(pool.map(lambda job: _attempt(job[1], job[2]), jobs))
    sent = failed = given_up = 0
    finished = timezone.now()
    for (row, _, _), error in zip(jobs, errors, strict=True):
        row.attempts += 1
        if error is None:
            row.status, row.error, row.sent_at, row.next_attempt_at = (
                AlertDelivery.Status.SENT,
                "",
                finished,
                None,
            )
            sent += 1
        else:
            failed += 1
            row.error = error[:500]
            if row.attempts >= settings.ALERT_DELIVERY_ATTEMPTS:
                row.status, row.next_attempt_at = AlertDelivery.Status.FAILED, None
                given_up += 1
            else:
                row.next_attempt_at = now + retry_delay(row.attempts)
        row.save(update_fields=["attempts", "status", "error", "sent_at", "next_attempt_at"])
    return DeliveryResult(sent=sent, failed=failed, given_up=given_up)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: ALERT_RETRY_SECONDS, doubled after each failure."""
    return timedelta(seconds=settings.ALERT_RETRY_SECONDS * 2 ** (attempts - 1))


def _claim(row: AlertDelivery, now: datetime) -> bool:
    """Take the delivery for this pass (another pass running at once sees it as not due)."""
    hold = now + timedelta(seconds=settings.ALERT_TIMEOUT_SECONDS * 4 + 60)
    taken = AlertDelivery.objects.filter(
        Q(pk=row.pk, status=AlertDelivery.Status.PENDING, attempts=row.attempts, next_attempt_at__lte=now)
    ).update(next_attempt_at=hold)
    return taken == 1


def _target(row: AlertDelivery) -> Target | None:
    if row.channel is not None:
        return channel_target(row.channel) if row.channel.enabled else None
    return Target(kind=AlertChannel.Kind.EMAIL, target=row.recipient) if row.recipient else None


def _message(alert: Alert) -> Message:
    return Message(
        alert_id=alert.pk,
        event=alert.event,
        rule=alert.rule.name if alert.rule else "",
        subject=alert.subject,
        title=alert.title,
        text=alert.message,
        created_at=alert.created_at.isoformat(),
    )


def _attempt(target: Target | None, message: Message) -> str | None:
    """One attempt (in a worker thread, no database): None when sent, else the error."""
    if target is None:
        return "the channel is disabled or was deleted"
    try:
        send(target, message)
    except DeliveryError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001  a channel's bug must not stop the other deliveries
        return f"unexpected error: {type(exc).__name__}"
    return None


def alert_test(*, channel_name: str, now: datetime | None = None) -> AlertDelivery | None:
    """Raise a test alert to one channel (enabled or not) and try it once now; its delivery (None: no such
    channel). A failed test is not retried."""
    channel = AlertChannel.objects.filter(name=channel_name).first()
    if channel is None:
        return None
    now = now or timezone.now()
    alert = alert_raise(
        rule=None,
        event=Alert.Event.TEST,
        subject=f"channel:{channel.name}",
        title=f"Test alert to {channel.name}",
        text=f"This is a test alert from Tokenledger to the channel {channel.name} ({channel.kind}).",
        channels=[channel],
        now=now,
    )
    delivery = alert.deliveries.get()
    error = _attempt(channel_target(channel), _message(alert))
    delivery.attempts = 1
    delivery.next_attempt_at = None
    if error is None:
        delivery.status, delivery.sent_at = AlertDelivery.Status.SENT, timezone.now()
    else:
        delivery.status, delivery.error = AlertDelivery.Status.FAILED, error[:500]
    delivery.save(update_fields=["attempts", "next_attempt_at", "status", "sent_at", "error"])
    return delivery
