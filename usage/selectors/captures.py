"""Reads of captured bodies (docs/gateway.md, "Capture")."""

from __future__ import annotations

from usage.conversation import Conversation, conversation_of
from usage.models import CapturedExchange, LedgerEntry


def captured_conversation(*, entry: LedgerEntry) -> Conversation | None:
    """The captured exchange of a row, laid out as a conversation (None: nothing was captured). `entry` is
    one the user may see (activity.activity_entry): whoever may see a row may see its bodies."""
    captured = CapturedExchange.objects.filter(entry=entry).first()
    if captured is None:
        return None
    return conversation_of(
        endpoint=entry.endpoint,
        request=captured.request,
        request_text=captured.request_text,
        reply=captured.reply,
        reply_text=captured.reply_text,
        truncated=captured.truncated,
    )
