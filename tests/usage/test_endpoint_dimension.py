"""The endpoint as a dimension: rollups per endpoint (and migration 0019's rebuild of older rollups), the
endpoint filter and table of /spend/, the endpoint filter and column of /activity/, and the cost breakdown of
Anthropic- and Responses-shaped requests on /activity/<id>/.

The ledger (now 2026-11-30 12:30 UTC; hours before 12:00 are final):

| # | key   | endpoint         | model                     | at    | prompt | cached | write (1 h) | compl | reas | reported |
| 0 | alpha | chat/completions | openai/gpt-4o             | 09:10 | 1000   | 0      | 0           | 200   | 0    | 0.0045   |
| 1 | alpha | messages         | anthropic/claude-sonnet-4 | 09:20 | 3000   | 1000   | 1500 (500)  | 400   | 0    | 0.01455  |
| 2 | alpha | responses        | openai/gpt-4o             | 09:30 | 800    | 300    | 0           | 250   | 50   | 0.004125 |
| 3 | ops   | embeddings       | openai/text-embedding-3-s | 10:05 | 100    | 0      | 0           | 0     | 0    | 0.000002 |
| 4 | alpha | messages         | anthropic/claude-sonnet-4 | 12:10 | 100    | 0      | 0           | 10    | 0    | 0.00045  |

#1 at claude's prices (input 3/M, cache read 0.3/M, write 3.75/M, 1-hour write 6/M, output 15/M):
500 × 3e-6 + 1000 × 3e-7 + 1000 × 3.75e-6 + 500 × 6e-6 + 400 × 1.5e-5
= 0.0015 + 0.0003 + 0.00375 + 0.003 + 0.006 = 0.01455.
#2 at gpt-4o's (input 2.5/M, cache read 1.25/M, output 10/M; reasoning at the output price):
500 × 2.5e-6 + 300 × 1.25e-6 + 200 × 1e-5 + 50 × 1e-5 = 0.00125 + 0.000375 + 0.002 + 0.0005 = 0.004125.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps

from tests.conftest import PASSWORD
from tests.usage.spend_data import NOW, at, entry, make_key, make_model
from usage.models import DailyRollup, HourlyRollup, LedgerEntry, RollupState
from usage.services.rollups import ledger_prune, rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal
migration = importlib.import_module("usage.migrations.0020_rollup_endpoint_finish_reason")


@pytest.fixture
def ledger(admin_user, member, time_machine):
    time_machine.move_to(NOW, tick=False)
    _, gpt = make_model(
        "openai/gpt-4o", prompt=D("0.0000025"), completion=D("0.00001"), input_cache_read=D("0.00000125")
    )
    _, claude = make_model(
        "anthropic/claude-sonnet-4",
        prompt=D("0.000003"),
        completion=D("0.000015"),
        input_cache_read=D("0.0000003"),
        input_cache_write=D("0.00000375"),
        input_cache_write_1h=D("0.000006"),
    )
    alpha, ops = make_key("alpha", member), make_key("ops", admin_user)
    claude_row = {"model": "anthropic/claude-sonnet-4", "version": claude, "provider": "Anthropic"}
    entries = [
        entry(at(9, 10), api_key=alpha, version=gpt, provider="OpenAI", prompt_tokens=1000,
              completion_tokens=200, reported_cost=D("0.0045"), computed_cost=D("0.0045")),
        entry(at(9, 20), api_key=alpha, endpoint="messages", **claude_row, prompt_tokens=3000,
              cached_tokens=1000, cache_write_tokens=1500, cache_write_1h_tokens=500, completion_tokens=400,
              reported_cost=D("0.01455"), computed_cost=D("0.01455"), generation_id="gen-msg-1"),
        entry(at(9, 30), api_key=alpha, endpoint="responses", version=gpt, provider="OpenAI",
              prompt_tokens=800, cached_tokens=300, completion_tokens=250, reasoning_tokens=50,
              reported_cost=D("0.004125"), computed_cost=D("0.004125")),
        entry(at(10, 5), api_key=ops, endpoint="embeddings", model="openai/text-embedding-3-small",
              provider="OpenAI", prompt_tokens=100, reported_cost=D("0.000002")),
        entry(at(12, 10), api_key=alpha, endpoint="messages", **claude_row, prompt_tokens=100,
              completion_tokens=10, reported_cost=D("0.00045"), computed_cost=D("0.00045")),
    ]  # fmt: skip
    return {"alpha": alpha, "ops": ops, "entries": entries}


def rollups(model=HourlyRollup) -> list[tuple]:
    time = "hour" if model is HourlyRollup else "day"
    return list(
        model.objects.order_by(time, "endpoint", "model", "prompt_tokens").values_list(
            time, "endpoint", "model", "requests", "prompt_tokens", "cache_write_1h_tokens", "cost"
        )
    )


HOURLY = [
    (at(9, 0), "chat/completions", "openai/gpt-4o", 1, 1000, 0, D("0.0045")),
    (at(9, 0), "messages", "anthropic/claude-sonnet-4", 1, 3000, 500, D("0.01455")),
    (at(9, 0), "responses", "openai/gpt-4o", 1, 800, 0, D("0.004125")),
    (at(10, 0), "embeddings", "openai/text-embedding-3-small", 1, 100, 0, D("0.000002")),
]


def test_rollups_keep_each_endpoint_apart_and_a_rebuild_gives_the_same_rows(ledger):
    rollup_catch_up(now=NOW)
    first = rollups()
    day = rollups(DailyRollup)

    rollup_catch_up(now=NOW, since=at(0, 0))

    assert first == rollups() == HOURLY
    assert day == rollups(DailyRollup) == sorted((at(0, 0), *row[1:]) for row in HOURLY)


def test_the_migration_has_rollups_made_without_the_endpoint_rebuilt_with_the_same_totals(ledger):
    rollup_catch_up(now=NOW)
    HourlyRollup.objects.update(endpoint="")  # as rolled up before 0019 (one row per model there)
    DailyRollup.objects.update(endpoint="")

    migration.rollups_redo(apps, None)
    moved_back = RollupState.objects.get().complete_until
    rollup_catch_up(now=NOW)

    assert moved_back == at(9, 0)
    assert rollups() == HOURLY
    assert RollupState.objects.get().complete_until == at(12, 0)


def test_the_migration_keeps_the_rollups_of_an_hour_retention_cut_into(ledger):
    rollup_catch_up(now=NOW)
    HourlyRollup.objects.update(endpoint="")
    LedgerEntry.objects.filter(created_at__lt=at(9, 15)).delete()  # as retention would: 09:00 cut into

    migration.rollups_redo(apps, None)
    rollup_catch_up(now=NOW)

    assert RollupState.objects.get().complete_until == at(12, 0)
    assert rollups() == [
        (at(9, 0), "", "anthropic/claude-sonnet-4", 1, 3000, 500, D("0.01455")),
        (at(9, 0), "", "openai/gpt-4o", 1, 800, 0, D("0.004125")),
        (at(9, 0), "", "openai/gpt-4o", 1, 1000, 0, D("0.0045")),
        (at(10, 0), "embeddings", "openai/text-embedding-3-small", 1, 100, 0, D("0.000002")),
    ]


def test_the_migration_rebuilds_from_the_first_hour_the_ledger_holds_whole(ledger):
    rollup_catch_up(now=NOW)
    HourlyRollup.objects.update(endpoint="")
    ledger_prune(now=at(10, 0) + timedelta(days=1), days=1)  # retention: every row before 10:00 goes

    migration.rollups_redo(apps, None)
    moved_back = RollupState.objects.get().complete_until
    rollup_catch_up(now=NOW)

    assert moved_back == at(10, 0)
    assert [row[:3] for row in rollups()] == [
        (at(9, 0), "", "anthropic/claude-sonnet-4"),
        (at(9, 0), "", "openai/gpt-4o"),
        (at(9, 0), "", "openai/gpt-4o"),
        (at(10, 0), "embeddings", "openai/text-embedding-3-small"),
    ]


def spend(client, user, query: str):
    client.login(username=user.username, password=PASSWORD)
    return client.get(f"/spend/?{query}")


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rollups + current hour"])
def test_spend_filters_by_endpoint_with_exact_totals(client, admin_user, ledger, rolled_up):
    if rolled_up:
        rollup_catch_up(now=NOW)

    everything = spend(client, admin_user, "range=today").context["report"]
    messages = spend(client, admin_user, "range=today&endpoint=messages")
    report = messages.context["report"]

    assert [(g.label, g.totals.requests, g.totals.cost) for g in everything.by_endpoint] == [
        ("messages", 2, D("0.015")),
        ("chat/completions", 1, D("0.0045")),
        ("responses", 1, D("0.004125")),
        ("embeddings", 1, D("0.000002")),
    ]
    assert messages.status_code == 200
    t = report.totals
    assert (t.requests, t.prompt_tokens, t.cached_tokens, t.cache_write_tokens, t.cache_write_1h_tokens) == (
        2, 3100, 1000, 1500, 500,
    )  # fmt: skip
    assert (t.completion_tokens, t.cost) == (410, D("0.015"))
    assert [(g.label, g.totals.requests) for g in report.by_endpoint] == [("messages", 2)]
    assert [(g.label, g.totals.cost) for g in report.by_key] == [("alpha (tl-alpha…)", D("0.015"))]
    page = messages.content.decode()
    assert '<option value="messages" selected>messages</option>' in page
    assert '<a href="/activity/?endpoint=messages">messages</a>' in page


def test_a_member_sees_only_their_keys_endpoints(client, member, ledger):
    report = spend(client, member, "range=today").context["report"]

    assert [g.label for g in report.by_endpoint] == ["messages", "chat/completions", "responses"]
    assert spend(client, member, "range=today&endpoint=embeddings").context["report"].totals.requests == 0


def test_an_unknown_endpoint_is_a_clear_400(client, admin_user, ledger):
    response = spend(client, admin_user, "range=today&endpoint=images")
    export = client.get("/spend/export/endpoint.csv?endpoint=images")

    assert response.status_code == 400
    assert "Select a valid choice. images is not one of the available choices." in response.content.decode()
    assert export.status_code == 400


def test_the_spend_export_by_endpoint_of_one_endpoint(client, admin_user, ledger):
    client.login(username=admin_user.username, password=PASSWORD)

    response = client.get("/spend/export/endpoint.csv?range=today&endpoint=responses")

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].split(",")[:3] == ["endpoint", "requests", "failed"]
    assert lines[1:] == ["responses,1,0,500,300,0,0,200,50,0.004125,0.004125,0.004125,0.000375,0,1.0000"]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rolled up"])
@pytest.mark.parametrize(
    "query, expected",
    [
        ("endpoint=messages", [4, 1]),
        ("endpoint=embeddings", [3]),
        ("endpoint=completions", []),
        ("endpoint=chat/completions&model=openai/gpt-4o", [0]),
        ("endpoint=responses&provider=OpenAI", [2]),
    ],
)
def test_activity_filters_by_endpoint(client, admin_user, ledger, query, expected, rolled_up):
    if rolled_up:  # the rollups then bound the days searched
        rollup_catch_up(now=NOW)
    client.login(username=admin_user.username, password=PASSWORD)

    response = client.get(f"/activity/?{query}")

    assert response.status_code == 200
    assert [row.id for row in response.context["page"].entries] == [ledger["entries"][i].id for i in expected]


def test_activity_shows_the_endpoint_of_each_request_and_refuses_an_unknown_one(client, admin_user, ledger):
    client.login(username=admin_user.username, password=PASSWORD)

    page = client.get("/activity/").content.decode()
    bad = client.get("/activity/?endpoint=images")

    assert "<th>Endpoint</th>" in page
    assert page.count("<td>messages</td>") == 2 and page.count("<td>embeddings</td>") == 1
    assert bad.status_code == 400
    assert "images is not one of the available choices" in bad.content.decode()


def breakdown_of(client, entry_id: int) -> tuple[list[tuple], str]:
    response = client.get(f"/activity/{entry_id}/")
    lines = [(line.label, line.units, line.cost) for line in response.context["breakdown"]]
    return lines, response.content.decode()


def test_an_anthropic_request_breaks_down_its_five_minute_and_one_hour_cache_writes(
    client, admin_user, ledger
):
    client.login(username=admin_user.username, password=PASSWORD)

    lines, page = breakdown_of(client, ledger["entries"][1].id)

    assert lines == [
        ("Input", 500, D("0.0015")),
        ("Cache read", 1000, D("0.0003")),
        ("Cache write", 1000, D("0.00375")),
        ("Cache write (1 h)", 500, D("0.003")),
        ("Output", 400, D("0.006")),
    ]
    assert sum(cost for _label, _units, cost in lines) == D("0.01455")
    assert "<dt>Endpoint</dt><dd>messages</dd>" in page
    assert "input_tokens" in page and "cache_creation_input_tokens" in page


def test_a_responses_request_breaks_down_its_cached_input_and_reasoning(client, admin_user, ledger):
    client.login(username=admin_user.username, password=PASSWORD)

    lines, page = breakdown_of(client, ledger["entries"][2].id)

    assert lines == [
        ("Input", 500, D("0.00125")),
        ("Cache read", 300, D("0.000375")),
        ("Output", 200, D("0.002")),
        ("Reasoning", 50, D("0.0005")),
    ]
    assert "<dt>Endpoint</dt><dd>responses</dd>" in page
    assert "input_tokens_details.cached_tokens" in page
