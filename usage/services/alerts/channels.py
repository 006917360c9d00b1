"""Alert channels: validation (the admin's form), whether one is broken, and sending one message to one
target. Sending touches no database (it runs in worker threads, usage.services.alerts.delivery).

A webhook gets a JSON POST whose body is signed: `X-Tokenledger-Signature: sha256=<hex>`, the HMAC-SHA256
of `<X-Tokenledger-Timestamp>.<body>` with the key read from the channel's environment variable."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email

from usage.models import AlertChannel
from usage.selectors.alerts import channel_secret

SIGNATURE_HEADER = "X-Tokenledger-Signature"
TIMESTAMP_HEADER = "X-Tokenledger-Timestamp"


@dataclass(frozen=True, slots=True)
class Message:
    """What every channel is given: the alert as plain values (no model instances cross into threads)."""

    alert_id: int
    event: str  # fired, resolved, reminder, test
    rule: str
    subject: str
    title: str
    text: str
    created_at: str  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class Target:
    """Where one delivery goes: a channel resolved (its secret read), or a key holder's address."""

    kind: str
    target: str
    secret: str = ""


class DeliveryError(Exception):
    """One attempt failed; its text is recorded on the delivery."""


def channel_addresses(channel: AlertChannel) -> list[str]:
    return [part.strip() for part in channel.target.split(",") if part.strip()]


def channel_validate(*, channel: AlertChannel) -> None:
    """Raise ValidationError (per field): a non-http(s) webhook URL, a bad address, a missing signing key."""
    errors: dict[str, list[str]] = {}
    if channel.kind == AlertChannel.Kind.EMAIL:
        addresses = channel_addresses(channel)
        if not addresses:
            errors.setdefault("target", []).append("Give one or more e-mail addresses, comma-separated.")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                errors.setdefault("target", []).append(f"Not an e-mail address: {address!r}.")
    else:
        parts = urlsplit(channel.target.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.setdefault("target", []).append(
                f"A webhook URL must start with http:// or https:// and name a host: {channel.target!r}."
            )
    if channel.kind == AlertChannel.Kind.WEBHOOK:
        if not channel.secret_env:
            errors.setdefault("secret_env", []).append(
                "Name the environment variable holding the webhook's signing key."
            )
        elif channel.enabled and not channel_secret(channel):
            errors.setdefault("secret_env", []).append(
                f"The environment variable {channel.secret_env} is not set in the server's environment: "
                "set it (and restart), or disable the channel."
            )
    if errors:
        raise ValidationError(errors)


def channel_target(channel: AlertChannel) -> Target:
    return Target(kind=channel.kind, target=channel.target.strip(), secret=channel_secret(channel))


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The X-Tokenledger-Signature value for this body: "sha256=" and the hex HMAC of "<timestamp>.<body>"."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def message_payload(message: Message) -> dict:
    return {
        "alert_id": message.alert_id,
        "event": message.event,
        "rule": message.rule,
        "subject": message.subject,
        "title": message.title,
        "message": message.text,
        "created_at": message.created_at,
    }


def slack_text(message: Message) -> str:
    """The Slack message: the title in bold, then the text."""
    return f"*{message.title}*\n{message.text}"


def send(target: Target, message: Message) -> None:
    """Deliver one message to one target within ALERT_TIMEOUT_SECONDS; raise DeliveryError on failure."""
    timeout = settings.ALERT_TIMEOUT_SECONDS
    if target.kind == AlertChannel.Kind.EMAIL:
        _send_email(target, message, timeout)
        return
    if target.kind == AlertChannel.Kind.WEBHOOK:
        if not target.secret:
            raise DeliveryError("no signing key: the channel's environment variable is not set")
        body = json.dumps(message_payload(message), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: webhook_signature(secret=target.secret, timestamp=timestamp, body=body),
        }
    else:
        body = json.dumps({"text": slack_text(message)}).encode()
        headers = {"Content-Type": "application/json"}
    try:
        response = httpx.post(target.target, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out after {timeout:g} s") from exc
    except (httpx.TransportError, httpx.InvalidURL) as exc:
        raise DeliveryError(f"cannot connect: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code} {response.reason_phrase}")


def _send_email(target: Target, message: Message, timeout: float) -> None:
    addresses = [part.strip() for part in target.target.split(",") if part.strip()]
    try:
        connection = get_connection(timeout=timeout)
        email = EmailMessage(
            subject=f"[Tokenledger] {message.title}",
            body=message.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=addresses,
            connection=connection,
        )
        email.send()
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors; socket timeouts too
        raise DeliveryError(f"e-mail failed: {type(exc).__name__}: {exc}"[:300]) from exc
