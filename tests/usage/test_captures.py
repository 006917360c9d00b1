"""Captured bodies stored (the writer's service), shown on the activity page to whoever may see the row, and
pruned after CAPTURE_RETENTION_DAYS by `prune_captures` (also the beat task)."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from tests.usage.spend_data import NOW, entry, make_key
from usage.exchanges import exchange_of
from usage.models import CapturedExchange, LedgerEntry
from usage.services.captures import captured_exchanges_record
from usage.tasks import prune_captures

CHAT = (
    b'{"model": "openai/gpt-4o", "messages": [{"role": "system", "content": "Be brief."},'
    b' {"role": "user", "content": "<script>alert(1)</script> my key is sk-proj-AAAAAAAAAAAAAAAAAAAA"}]}'
)
REPLY = b'{"choices": [{"message": {"role": "assistant", "content": "Hello <b>there</b>."}}], "usage": {"total_tokens": 5}}'


def capture(row: LedgerEntry, request: bytes = CHAT, reply: bytes = REPLY) -> int:
    exchange = exchange_of(
        endpoint=row.endpoint, stream=False, request=request, reply=reply, tail=b"", cut=False, limit=4096
    )
    return captured_exchanges_record(exchanges=[(row.request_id, exchange)])


@pytest.fixture
def rows(db, member, outsider):
    capturing = make_key("mine", owner=member, capture_bodies=True)
    theirs = make_key("theirs", owner=outsider, capture_bodies=True)
    plain = make_key("plain", owner=member)
    return {
        "mine": entry(NOW, api_key=capturing, request_id="a" * 32),
        "theirs": entry(NOW, api_key=theirs, request_id="b" * 32),
        "plain": entry(NOW, api_key=plain, request_id="c" * 32),
    }


def test_a_row_of_a_key_that_has_not_opted_in_gets_nothing_stored(rows):
    assert (capture(rows["mine"]), capture(rows["plain"])) == (1, 0)
    assert list(CapturedExchange.objects.values_list("entry_id", flat=True)) == [rows["mine"].id]


def test_a_second_capture_of_a_row_changes_nothing(rows):
    capture(rows["mine"])
    capture(rows["mine"], request=b'{"other": 1}')

    assert CapturedExchange.objects.get().request["messages"][0] == {"role": "system", "content": "Be brief."}


def test_the_detail_page_shows_the_conversation_escaped_and_redacted(client, member, rows):
    capture(rows["mine"])
    client.force_login(member)

    html = client.get(f"/activity/{rows['mine'].id}/").content.decode()

    assert '<div class="turn turn-system">\n  <div class="turn-role">system</div>' in html
    assert '<pre class="part part-text">Be brief.</pre>' in html
    assert (
        '<pre class="part part-text">&lt;script&gt;alert(1)&lt;/script&gt; my key is sk-[REDACTED]</pre>'
        in html
    )
    assert '<pre class="part part-text">Hello &lt;b&gt;there&lt;/b&gt;.</pre>' in html
    assert "<script>alert(1)" not in html and "sk-proj-" not in html
    assert 'id="capture-truncated"' not in html


def test_a_row_without_a_capture_has_no_conversation(client, member, rows):
    client.force_login(member)

    assert 'id="conversation"' not in client.get(f"/activity/{rows['plain'].id}/").content.decode()


def test_a_member_cannot_see_another_members_bodies_and_staff_can(client, member, admin_user, rows):
    capture(rows["theirs"])
    client.force_login(member)

    assert client.get(f"/activity/{rows['theirs'].id}/").status_code == 404
    client.force_login(admin_user)
    assert 'id="conversation"' in client.get(f"/activity/{rows['theirs'].id}/").content.decode()


def test_prune_deletes_the_captures_past_the_retention_only(settings, rows):
    settings.CAPTURE_RETENTION_DAYS = 30
    old = entry(NOW - timedelta(days=31), api_key=rows["mine"].api_key, request_id="d" * 32)
    edge = entry(NOW - timedelta(days=29), api_key=rows["mine"].api_key, request_id="e" * 32)
    for row in (old, edge, rows["mine"]):
        capture(row)
    out = StringIO()

    with time_machine.travel(NOW, tick=False):
        call_command("prune_captures", stdout=out)

    assert out.getvalue() == "prune captures ok: deleted=1 older_than=2026-10-31T12:30:00+00:00\n"
    assert sorted(CapturedExchange.objects.values_list("entry_id", flat=True)) == [rows["mine"].id, edge.id]
    assert LedgerEntry.objects.filter(pk=old.pk).exists()  # the row stays


def test_the_beat_task_and_days_override_prune_too(settings, rows):
    settings.CAPTURE_RETENTION_DAYS = 30
    old = entry(NOW - timedelta(days=10), api_key=rows["mine"].api_key, request_id="d" * 32)
    capture(old)
    capture(rows["mine"])

    with time_machine.travel(NOW, tick=False):
        assert prune_captures() == 0
        call_command("prune_captures", "--days", "7", stdout=StringIO())

    assert list(CapturedExchange.objects.values_list("entry_id", flat=True)) == [rows["mine"].id]


def test_prune_refuses_a_retention_under_a_day(db):
    with pytest.raises(CommandError, match="--days must be 1 or more; got 0"):
        call_command("prune_captures", "--days", "0")
