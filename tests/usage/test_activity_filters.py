"""/activity/'s filters that find things (part of a model id or name, provider in any case, cost and latency
ranges), its bounded count of matching rows, the columns of its list, and its URL of set filters only."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import CatalogModel
from tests.usage.spend_data import NOW, at, build_ledger, ids_on, log_in
from tests.usage.spend_data import entry as add_entry
from usage.models import LedgerEntry
from usage.selectors import activity_count
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def ledger(admin_user, member, time_machine):
    time_machine.move_to(NOW, tick=False)
    return build_ledger(member=member, admin=admin_user)


def count_text(response) -> str:
    return " ".join(
        re.search(r'<p id="activity-count">(.*?)</p>', response.content.decode(), re.S)[1].split()
    )


# Rows of spend_data's ledger: 0 gpt-4o/OpenAI $0.004 800 ms, 1 claude/Anthropic $0.0082 1200 ms,
# 2 gpt-4o/Azure error $0 100 ms, 3 claude/Anthropic $0.0021 400 ms, 4 gpt-4o asked, rejected, no cost, 0 ms.
@pytest.mark.parametrize(
    "query, expected",
    [
        ("model=gpt-4o", [4, 2, 0]),  # part of the id; the rejected request's requested model counts
        ("model=GPT-4O", [4, 2, 0]),
        ("model=claude", [3, 1]),
        ("model=Sonnet%204", [3, 1]),  # the catalogue's name, "Anthropic: Claude Sonnet 4"
        ("model=openai/gpt-4o", [4, 2, 0]),  # a whole id still works
        ("model=gemini", []),
        ("provider=azure", [2]),
        ("provider=ANTHROPIC", [3, 1]),
        ("provider=anthrop", []),  # any case, but the whole name
        ("model=gpt&provider=azure", [2]),
        ("cost_min=0.004", [1, 0]),  # both bounds included
        ("cost_max=0.0021", [4, 3, 2]),  # no cost known counts as 0, as on the spend pages
        ("cost_min=0.002&cost_max=0.005", [3, 0]),
        ("model=claude&cost_min=0.005", [1]),
        ("latency_min=1", [1]),
        ("latency_min=0.4&latency_max=0.8", [3, 0]),
        ("latency_max=0.1", [4, 2]),
        ("latency_min=0.1&latency_max=0.1&status=error", [2]),
    ],
)
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rolled up"])
def test_filters_find_their_rows(client, admin_user, ledger, query, expected, rolled_up):
    CatalogModel.objects.filter(model_id="anthropic/claude-sonnet-4").update(
        name="Anthropic: Claude Sonnet 4"
    )
    if rolled_up:  # the rollups then name the models and bound the days searched (12:00 on is still raw)
        rollup_catch_up(now=NOW)

    response = log_in(client, admin_user).get(f"/activity/?{query}")

    assert response.status_code == 200
    assert ids_on(response) == [ledger["entries"][i].id for i in expected]
    assert response.context["page"].count == len(expected)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("provider=azure", []),  # another member's key's row
        ("model=gpt-4o", [4, 0]),
        ("cost_min=0", [4, 1, 0]),
        ("latency_max=0.1", [4]),
    ],
)
def test_filters_never_widen_what_a_member_sees(client, member, ledger, query, expected):
    rollup_catch_up(now=NOW)

    response = log_in(client, member).get(f"/activity/?{query}")

    assert ids_on(response) == [ledger["entries"][i].id for i in expected]
    assert response.context["page"].count == len(expected)


def test_a_whole_model_id_finds_that_model_only(client, admin_user, ledger):
    mini = add_entry(at(8, 0), api_key=ledger["ops"], model="openai/gpt-4o-mini", provider="OpenAI")
    client = log_in(client, admin_user)
    rows = ledger["entries"]

    assert ids_on(client.get("/activity/?model=gpt-4o")) == [rows[4].id, rows[2].id, rows[0].id, mini.id]
    assert ids_on(client.get("/activity/?model=OpenAI/GPT-4o")) == [rows[4].id, rows[2].id, rows[0].id]
    assert ids_on(client.get("/activity/?model=openai/gpt-4o-mini")) == [mini.id]


def test_the_page_counts_the_matching_rows(client, admin_user, ledger):
    client = log_in(client, admin_user)

    assert count_text(client.get("/activity/")) == "5 matching requests"
    assert count_text(client.get("/activity/?model=claude")) == "2 matching requests"
    assert count_text(client.get("/activity/?provider=azure")) == "1 matching request"


def test_the_count_stops_at_its_limit(client, admin_user, ledger, monkeypatch):
    client = log_in(client, admin_user)
    monkeypatch.setattr(activity_count, "COUNT_LIMIT", 5)
    assert count_text(client.get("/activity/")) == "5 matching requests"  # 5 rows: not over the limit

    monkeypatch.setattr(activity_count, "COUNT_LIMIT", 3)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/activity/")

    assert count_text(response) == "3+ matching requests"
    assert len(ids_on(response)) == 5  # the list itself is not cut
    counts = [
        query["sql"]
        for query in queries
        if query["sql"].startswith("SELECT COUNT(*)") and "usage_ledgerentry" in query["sql"]
    ]
    assert len(counts) == 1 and "LIMIT 4" in counts[0]  # the database stops counting at the limit + 1


@pytest.mark.parametrize(
    "query, message",
    [
        ("cost_min=abc", "Cost from ($): Enter a number."),
        ("cost_max=-1", "Cost to ($): Ensure this value is greater than or equal to 0."),
        ("cost_min=NaN", "Cost from ($): Enter a number."),
        ("cost_min=1e999", "Cost from ($): Ensure that there are no more than 16 digits in total."),
        ("cost_min=0.5&cost_max=0.1", "Cost to ($): The highest cost is below the lowest."),
        ("latency_min=Infinity", "Latency from (s): Enter a number."),
        ("latency_min=0.0005", "Latency from (s): Ensure that there are no more than 3 decimal places."),
        ("latency_min=5&latency_max=2", "Latency to (s): The highest latency is below the lowest."),
    ],
)
def test_bad_ranges_get_a_clear_message_not_a_server_error(client, admin_user, ledger, query, message):
    client = log_in(client, admin_user)

    response = client.get(f"/activity/?{query}")
    export = client.get(f"/activity/export.csv?{query}")

    assert response.status_code == 400  # as every bad filter of the log: the form and its errors
    assert f'<li class="msg-error">{message}</li>' in response.content.decode().replace("&#x27;", "'")
    assert 'name="cost_min"' in response.content.decode()
    assert export.status_code == 400
    assert message.split(": ", 1)[1] in export.content.decode()


def test_unset_filters_leave_the_url(client, admin_user, ledger):
    client = log_in(client, admin_user)

    submitted = client.get("/activity/?key=&model=gpt-4o&provider=&status=&cost_min=&latency_max=1")
    nothing = client.get("/activity/?key=&model=+&provider=")
    page = client.get("/activity/?model=gpt-4o&latency_max=1")

    assert (submitted.status_code, submitted["Location"]) == (302, "/activity/?model=gpt-4o&latency_max=1")
    assert (nothing.status_code, nothing["Location"]) == (302, "/activity/")
    assert page.status_code == 200
    assert 'href="/activity/export.csv?model=gpt-4o&amp;latency_max=1"' in page.content.decode()


def test_the_csv_export_uses_the_same_filters(client, admin_user, ledger):
    response = log_in(client, admin_user).get(
        "/activity/export.csv?model=Claude&provider=anthropic&cost_min=0.003"
    )

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [str(ledger["entries"][1].id)]


def cells(response, entry_id: int) -> list[str]:
    """The text of each cell of one row of the log, whitespace collapsed."""
    html = response.content.decode()
    row = re.search(rf'<tr>\s*<td><a href="/activity/{entry_id}/">.*?</tr>', html, re.S)[0]
    texts = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split()) for text in texts]


def test_the_list_shows_reasons_speeds_finish_and_flags(client, admin_user, ledger):
    rows = ledger["entries"]
    LedgerEntry.objects.filter(pk=rows[0].pk).update(finish_reason="stop", stream=True)
    LedgerEntry.objects.filter(pk=rows[1].pk).update(finish_reason="length")

    response = log_in(client, admin_user).get("/activity/")
    html = response.content.decode()

    # time, key, endpoint, model, provider, status, tokens, tokens/s, cost, latency, finish, flags
    assert cells(response, rows[0].id)[5:] == [
        "ok", "1,000 / 200", "400.0", "$0.004", "800 ms", "stop",
        "stream prompt cache",
    ]  # fmt: skip
    assert cells(response, rows[1].id)[7:11] == ["250.0", "$0.0082", "1.2 s", "length"]
    assert cells(response, rows[2].id)[5:] == [
        'error 502: upstream said "no", then hung up', "0 / 0", "—", "$0.00", "100 ms", "—", "",
    ]  # fmt: skip
    assert cells(response, rows[4].id)[5] == "rejected budget_exceeded: Budget exceeded"
    # 200 output tokens in 800 - 300 ms after the first token; 300 in 1200 ms, no time to first token known
    assert '<span class="tps" title="output tokens ÷ (latency − time to first token)">400.0</span>' in html
    assert '<span class="tps" title="output tokens ÷ latency">250.0</span>' in html
    assert 'title="400 input tokens read from the prompt cache">prompt cache</span>' in html


def test_latency_shows_in_seconds_from_one_second_on(client, admin_user, ledger):
    key = ledger["alpha"]
    for minute, millis in enumerate((999, 1000, 1250, 49196, 3_600_000)):
        add_entry(at(8, minute), api_key=key, latency_ms=millis)

    response = log_in(client, admin_user).get("/activity/?latency_min=0.999")

    latencies = [cells(response, entry_id)[9] for entry_id in ids_on(response)]
    assert latencies == ["1.2 s", "3,600.0 s", "49.2 s", "1.3 s", "1.0 s", "999 ms"]


def test_a_model_filter_reads_no_ledger_row_by_pattern_once_rolled_up(client, admin_user, ledger):
    rollup_catch_up(now=NOW)
    add_entry(
        NOW - timedelta(minutes=1), api_key=ledger["ops"], model="mistralai/mistral-small", provider="Mistral"
    )

    with CaptureQueriesContext(connection) as queries:
        response = log_in(client, admin_user).get("/activity/?model=mistral")

    assert ids_on(response) == [LedgerEntry.objects.get(served_model="mistralai/mistral-small").id]
    # The pattern is matched against the catalogue, the rollups and the raw tail since they are complete;
    # the page's rows are then read by exact model ids.
    ledger_likes = [
        query["sql"]
        for query in queries
        if 'FROM "usage_ledgerentry"' in query["sql"]
        and "LIKE" in query["sql"]
        and '"created_at" >=' not in query["sql"]
    ]
    assert ledger_likes == []


def test_once_rolled_up_the_count_is_exact_past_the_limit(client, admin_user, ledger, monkeypatch):
    rollup_catch_up(now=NOW)  # complete until 12:00; one more row after it
    add_entry(NOW - timedelta(minutes=1), api_key=ledger["ops"], model="openai/gpt-4o", provider="OpenAI")
    monkeypatch.setattr(activity_count, "COUNT_LIMIT", 3)
    client = log_in(client, admin_user)

    response = client.get("/activity/?model=gpt-4o")

    assert count_text(response) == "4 matching requests"  # rows 0, 2, 4 rolled up, and the new one
    assert count_text(client.get("/activity/")) == "6 matching requests"
    assert count_text(client.get("/activity/?provider=anthropic&status=ok")) == "2 matching requests"
    # A range that is not on the hour, or a cost range, is counted from the rows, up to the limit.
    assert count_text(client.get("/activity/?cost_max=1")) == "3+ matching requests"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a statement timeout: PostgreSQL's")
def test_a_bounded_count_that_takes_too_long_is_given_up(ledger, monkeypatch):
    monkeypatch.setattr(activity_count, "COUNT_TIMEOUT_MS", 20)
    slow = LedgerEntry.objects.extra(where=["pg_sleep(0.05) IS NOT NULL"])

    assert activity_count.bounded_count(slow) is None
    assert activity_count.bounded_count(LedgerEntry.objects.all()) == 5  # the timeout is the count's only
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.05)")  # no timeout left behind


def test_a_first_page_read_from_the_rollups_newest_matching_hours_pages_on_and_survives_pruned_rows(
    admin_user, ledger
):
    from usage.selectors.activity import ActivityFilters, activity_page

    rollup_catch_up(now=NOW)
    rows = ledger["entries"]  # gpt-4o: rows 4, 2, 0 (newest first), all rolled up
    gpt = ActivityFilters(model="gpt-4o")

    first = activity_page(user=admin_user, filters=gpt, size=2)
    second = activity_page(user=admin_user, filters=gpt, before=first.older, size=2)

    assert [entry.id for entry in first.entries] == [rows[4].id, rows[2].id]
    assert [entry.id for entry in second.entries] == [rows[0].id] and second.older is None
    rows[2].delete()  # the rollups still count it (as a retention's pruning leaves them)
    again = activity_page(user=admin_user, filters=gpt, size=2)
    assert [entry.id for entry in again.entries] == [rows[4].id, rows[0].id] and again.older is None
