"""/activity/: the request log (keyset pages, filters, visibility), request detail, CSV export."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.usage.spend_data import NOW, at, build_ledger, ids_on, log_in, make_key, make_model
from tests.usage.spend_data import entry as add_entry
from usage.costs import computed_cost
from usage.models import LedgerEntry
from usage.selectors.rollups import ledger_grouped
from usage.services.rollups import rollup_catch_up

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def ledger(admin_user, member, time_machine):
    time_machine.move_to(NOW, tick=False)
    return build_ledger(member=member, admin=admin_user)


def test_staff_see_every_request_newest_first(client, admin_user, ledger):
    response = log_in(client, admin_user).get("/activity/")

    assert response.status_code == 200
    assert ids_on(response) == [e.id for e in reversed(ledger["entries"])]
    html = response.content.decode()
    assert f'href="/activity/{ledger["entries"][0].id}/"' in html
    assert '<span class="badge rejected">rejected</span>' in html


def test_members_see_only_their_keys_rows(client, member, ledger):
    entries = ledger["entries"]

    response = log_in(client, member).get("/activity/")

    assert ids_on(response) == [entries[4].id, entries[1].id, entries[0].id]


def test_an_outsider_sees_an_empty_log(client, outsider, ledger):
    response = log_in(client, outsider).get("/activity/")

    assert ids_on(response) == []
    assert "No requests match these filters." in response.content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=error", [2]),
        (
            "model=openai/gpt-4o",
            [4, 2, 0],
        ),  # the rejected request was served no model: its requested one counts
        ("provider=Anthropic", [3, 1]),
        ("start=2026-11-30&end=2026-11-30&status=ok", [3, 1, 0]),
        ("start=2026-11-29&end=2026-11-29", []),
        ("model=no/such-model", []),
        ("provider=Azure&status=ok", []),
        ("model=openai/gpt-4o&status=rejected", [4]),
        ("provider=OpenAI&status=ok&start=2026-11-30", [0]),
    ],
)
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw ledger", "rolled up"])
def test_filters(client, admin_user, ledger, query, expected, rolled_up):
    if rolled_up:  # the rollups then bound the days searched (the 12:00 hour is still raw)
        rollup_catch_up(now=NOW)

    response = log_in(client, admin_user).get(f"/activity/?{query}")

    assert response.status_code == 200
    assert ids_on(response) == [ledger["entries"][i].id for i in expected]


def test_the_key_filter_lists_only_visible_keys_and_404s_on_a_foreign_one(client, member, ledger):
    client = log_in(client, member)

    own = client.get(f"/activity/?key={ledger['alpha'].id}")
    foreign = client.get(f"/activity/?key={ledger['ops'].id}")
    missing = client.get("/activity/?key=999999")

    assert ids_on(own) == [ledger["entries"][i].id for i in (4, 1, 0)]
    assert "ops" not in own.content.decode().split('name="key"')[1].split("</select>")[0]
    assert (foreign.status_code, missing.status_code) == (404, 404)
    assert client.get(f"/activity/export.csv?key={ledger['ops'].id}").status_code == 404


@pytest.mark.parametrize(
    "query, message",
    [
        ("status=exploded", "Select a valid choice. exploded is not one of the available choices."),
        ("key=abc", "Enter a whole number."),
        ("start=2026-11-30&end=2026-11-01", "The end date is before the start date."),
        ("start=0001-01-01", "Choose a date between 2020-01-01 and today."),
    ],
)
def test_bad_filters_get_a_clear_message(client, admin_user, ledger, query, message):
    response = log_in(client, admin_user).get(f"/activity/?{query}")

    assert response.status_code == 400
    assert message in response.content.decode()


def make_rows(api_key, count: int, *, same_time_from: int | None = None) -> list[int]:
    """`count` requests a second apart, oldest first; from index `same_time_from` on, all at one instant."""
    base = NOW - timedelta(hours=2)
    rows = []
    for i in range(count):
        moment = base + timedelta(
            seconds=i if same_time_from is None or i < same_time_from else same_time_from
        )
        rows.append(
            LedgerEntry(api_key=api_key, created_at=moment, requested_model="m", http_status=200, status="ok")
        )
    LedgerEntry.objects.bulk_create(rows)
    return list(LedgerEntry.objects.order_by("-created_at", "-id").values_list("id", flat=True))


def cursor_link(response, rel: str) -> str | None:
    match = re.search(rf'href="\?([^"]*)" rel="{rel}"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def test_keyset_pages_cover_every_row_once_even_with_equal_timestamps(client, admin_user):
    key = make_key("bulk", admin_user)
    # 120 rows; the 30 newest share one timestamp, so the first page boundary falls inside a tie.
    newest_first = make_rows(key, 120, same_time_from=90)
    client = log_in(client, admin_user)

    first = client.get("/activity/")
    second = client.get(f"/activity/?{cursor_link(first, 'next')}")
    third = client.get(f"/activity/?{cursor_link(second, 'next')}")

    assert ids_on(first) == newest_first[:50]
    assert ids_on(second) == newest_first[50:100]
    assert ids_on(third) == newest_first[100:]
    assert cursor_link(third, "next") is None
    assert cursor_link(first, "prev") is None
    back = client.get(f"/activity/?{cursor_link(third, 'prev')}")
    assert ids_on(back) == newest_first[50:100]
    back_again = client.get(f"/activity/?{cursor_link(back, 'prev')}")
    assert ids_on(back_again) == newest_first[:50]
    assert cursor_link(back_again, "prev") is None


def test_exactly_one_page_has_no_next_link(client, admin_user):
    make_rows(make_key("fifty", admin_user), 50)

    response = log_in(client, admin_user).get("/activity/")

    assert len(ids_on(response)) == 50
    assert cursor_link(response, "next") is None


def test_cursors_keep_the_filters(client, admin_user):
    key = make_key("bulk", admin_user)
    make_rows(key, 60)
    make_rows(make_key("other", admin_user), 5)
    client = log_in(client, admin_user)

    first = client.get(f"/activity/?key={key.id}")
    nxt = cursor_link(first, "next")

    assert nxt.startswith(f"key={key.id}&")
    assert len(ids_on(client.get(f"/activity/?{nxt}"))) == 10


@pytest.mark.parametrize("cursor", ["abc", "1.2.3", "99999999999999999999999999.1", "-5", ".", "12."])
def test_a_tampered_cursor_shows_a_message_and_the_newest_rows(client, admin_user, ledger, cursor):
    response = log_in(client, admin_user).get(f"/activity/?before={cursor}")

    assert response.status_code == 400
    assert "That page link is not valid" in response.content.decode()
    assert ids_on(response)[0] == ledger["entries"][4].id


def test_the_detail_page_breaks_the_cost_down_at_the_version_prices(client, member, ledger):
    entry = ledger["entries"][1]

    response = log_in(client, member).get(f"/activity/{entry.id}/")

    assert response.status_code == 200
    lines = [(line.label, line.units, line.unit_price, line.cost) for line in response.context["breakdown"]]
    assert lines == [
        ("Input", 500, D("0.000003"), D("0.0015")),
        ("Cache read", 1000, D("0.0000003"), D("0.0003")),
        ("Cache write", 500, D("0.00000375"), D("0.001875")),
        ("Output", 200, D("0.000015"), D("0.003")),
        ("Reasoning", 100, D("0.000015"), D("0.0015")),  # not priced apart: the output price
    ]
    assert response.context["breakdown_total"] == D("0.008175")
    assert response.context["savings"] == D("0.0027")
    html = response.content.decode()
    assert "valid from 2026-01-01 00:00 UTC until now" in html
    assert '<div class="value" id="reported-cost">$0.0082</div>' in html
    assert '<div class="value" id="computed-cost">$0.00818</div>' in html
    assert "gen-2" in html
    assert "differs from the reported cost" not in html


def test_the_breakdown_uses_the_rows_effective_prices_and_shows_one_hour_cache_writes(client, member, ledger):
    # claude-sonnet-4's long-context tier: above 200,000 prompt tokens, 6/22.5 per M, writes 7.5/M, 1 h 12/M
    _, tiered = make_model(
        "anthropic/claude-sonnet-4-tiered",
        prompt=D("0.000003"),
        completion=D("0.000015"),
        input_cache_read=D("0.0000003"),
        input_cache_write=D("0.00000375"),
        input_cache_write_1h=D("0.000006"),
        overrides=[
            {
                "min_prompt_tokens": 200000,
                "prompt": "0.000006",
                "completion": "0.0000225",
                "input_cache_read": "0.0000006",
                "input_cache_write": "0.0000075",
                "input_cache_write_1h": "0.000012",
            }
        ],
    )
    fields = {"cache_write_tokens": 3000, "cache_write_1h_tokens": 1000, "completion_tokens": 1000}
    big = add_entry(at(11, 0), api_key=ledger["alpha"], version=tiered, prompt_tokens=250000, **fields)
    small = add_entry(at(11, 1), api_key=ledger["alpha"], version=tiered, prompt_tokens=200000, **fields)
    client = log_in(client, member)

    response = client.get(f"/activity/{big.id}/")
    lines = [(line.label, line.units, line.unit_price, line.cost) for line in response.context["breakdown"]]
    assert lines == [
        ("Input", 247000, D("0.000006"), D("1.482")),
        ("Cache write", 2000, D("0.0000075"), D("0.015")),
        ("Cache write (1 h)", 1000, D("0.000012"), D("0.012")),
        ("Output", 1000, D("0.0000225"), D("0.0225")),
    ]
    assert response.context["breakdown_total"] == D("1.5315")
    assert "<td>Cache write (1 h)</td>" in response.content.decode()

    # at 200,000 prompt tokens (not above): base prices
    # 197000 × 3e-6 + 2000 × 3.75e-6 + 1000 × 6e-6 + 1000 × 15e-6 = 0.591 + 0.0075 + 0.006 + 0.015
    assert client.get(f"/activity/{small.id}/").context["breakdown_total"] == D("0.6195")


def test_no_saving_is_shown_when_the_model_has_no_cache_read_price(client, admin_user, ledger):
    # Cached input of such a model is billed at the input price: nothing saved (as the rollups count it).
    _, plain = make_model(
        "meta-llama/llama-3.3-70b-instruct", prompt=D("0.0000001"), completion=D("0.0000003")
    )
    row = add_entry(at(9, 0), version=plain, provider="DeepInfra", prompt_tokens=1000, cached_tokens=800,
                computed_cost=D("0.0001"))  # fmt: skip

    response = log_in(client, admin_user).get(f"/activity/{row.id}/")

    assert response.status_code == 200
    assert response.context["savings"] == D(0)
    assert "Cache reads saved" not in response.content.decode()


def test_the_detail_pages_saving_is_the_rollups(client, admin_user, ledger):
    _, plain = make_model("meta-llama/llama-3.3-70b-instruct", prompt=D("0.0000001"))
    add_entry(at(9, 0), version=plain, prompt_tokens=1000, cached_tokens=800)
    client = log_in(client, admin_user)
    for row in LedgerEntry.objects.all():
        rolled = ledger_grouped(LedgerEntry.objects.filter(pk=row.pk)).get()["cache_savings"]
        assert client.get(f"/activity/{row.id}/").context["savings"] == rolled, row


def test_the_breakdown_adds_up_to_the_gateways_computed_cost(client, admin_user, ledger):
    for entry in LedgerEntry.objects.exclude(price_version=None).select_related("price_version"):
        fields = {
            name: getattr(entry, name)
            for name in ("prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens")
        } | {"reasoning_tokens": entry.reasoning_tokens}
        response = log_in(client, admin_user).get(f"/activity/{entry.id}/")
        assert response.context["breakdown_total"] == computed_cost(entry.price_version.prices(), **fields)


def test_the_detail_page_flags_a_cost_disagreement(client, admin_user, ledger):
    response = log_in(client, admin_user).get(f"/activity/{ledger['entries'][3].id}/")

    assert response.context["costs_disagree"] is True
    assert "differs from the reported cost" in response.content.decode()


def test_someone_elses_request_is_not_found(client, member, ledger):
    client = log_in(client, member)

    assert client.get(f"/activity/{ledger['entries'][3].id}/").status_code == 404
    assert client.get("/activity/987654/").status_code == 404


def test_the_csv_export_streams_the_filtered_log_with_exact_quoting(client, admin_user, ledger):
    response = log_in(client, admin_user).get("/activity/export.csv?status=error")

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="activity-')
    entry_id = ledger["entries"][2].id
    assert b"".join(response.streaming_content).decode() == (
        "id,created_at,key_name,key_prefix,requested_model,served_model,provider,status,http_status,"
        "prompt_tokens,cached_tokens,cache_write_tokens,cache_write_1h_tokens,completion_tokens,reasoning_tokens,"
        "reported_cost,computed_cost,latency_ms,ttft_ms,generation_id,error_code,error_message,endpoint\r\n"
        f"{entry_id},2026-11-30T11:05:00+00:00,ops,tl-ops,openai/gpt-4o,openai/gpt-4o,Azure,error,502,"
        '0,0,0,0,0,0,,0,100,,,502,"upstream said ""no"", then hung up",chat/completions\r\n'
    )


def test_the_csv_export_of_a_member_has_only_their_rows(client, member, ledger):
    response = log_in(client, member).get("/activity/export.csv")

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [line.split(",")[2] for line in lines[1:]] == ["alpha", "alpha", "alpha"]
    assert lines[1].split(",")[1] == at(12, 15).isoformat()
    assert lines[3].split(",")[15:17] == ["0.004", "0.004"]


def test_the_filter_suggests_only_models_and_providers_of_visible_traffic(client, member, ledger):
    rollup_catch_up(now=NOW)

    response = log_in(client, member).get("/activity/")

    assert response.context["suggestions"] == {
        "models": ["anthropic/claude-sonnet-4", "openai/gpt-4o"],
        "providers": ["Anthropic", "OpenAI"],
    }
    assert '<datalist id="providers"><option value="Anthropic"><option value="OpenAI"></datalist>' in (
        response.content.decode()
    )


def test_csv_cells_a_spreadsheet_would_run_are_kept_as_text(client, admin_user, ledger):
    key = make_key('=HYPERLINK("http://evil")', admin_user)
    LedgerEntry.objects.create(
        api_key=key, created_at=NOW, requested_model="@sum", http_status=400, status="rejected",
        error_message="-1 is not a valid max_tokens",
    )  # fmt: skip

    response = log_in(client, admin_user).get(f"/activity/export.csv?key={key.id}")

    line = b"".join(response.streaming_content).decode().splitlines()[1]
    assert ',"\'=HYPERLINK(""http://evil"")","tl-=HYPERLINK(""h",' in line
    assert ",'@sum,," in line
    assert line.endswith(",'-1 is not a valid max_tokens,chat/completions")


def test_the_detail_page_shows_the_routing_alias_attempts_and_skips(client, admin_user, ledger):
    entry = ledger["entries"][1]
    entry.requested_model = "team/fast"
    entry.meta = {
        "alias": "team/fast",
        "strategy": "cheapest",
        "upstream": "local",
        "skipped": [{"model": "openai/gpt-4o", "reason": "price 12.5 above ceiling 10"}],
        "attempts": [
            {
                "upstream": "openrouter",
                "model": "anthropic/claude-sonnet-4",
                "status": 429,
                "ms": 12,
                "error": "Rate limit exceeded",
            },
            {"upstream": "local", "model": "local/qwen3-8b", "status": 200, "ms": 1500},
        ],
    }
    entry.save()

    html = log_in(client, admin_user).get(f"/activity/{entry.id}/").content.decode()

    assert "<dt>Alias</dt><dd>team/fast (cheapest)</dd>" in html
    assert "<dt>Upstream</dt><dd>local</dd>" in html
    assert "<dt>Skipped</dt><dd>openai/gpt-4o: price 12.5 above ceiling 10</dd>" in html
    rows = re.findall(
        r"<tr><td>(\d)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td class=\"num\">(\d+)</td>\s*"
        r"<td class=\"num\">(.*?)</td>\s*<td>(.*?)</td></tr>",
        html,
    )
    assert rows == [
        ("1", "openrouter", "anthropic/claude-sonnet-4", "429", "12 ms", "Rate limit exceeded"),
        ("2", "local", "local/qwen3-8b", "200", "1,500 ms", ""),
    ]


def test_the_detail_page_of_a_cache_hit_shows_what_it_saved(client, admin_user, ledger):
    entry = ledger["entries"][1]
    entry.status = "cached"
    entry.meta = {"cache": "hit", "saved_cost": "0.0000066"}
    entry.save()

    html = log_in(client, admin_user).get(f"/activity/{entry.id}/").content.decode()

    assert '<span class="badge cached">cached</span>' in html
    assert "<dt>Response cache</dt><dd>hit: saved $0.0000066</dd>" in html


def test_estimated_costs_are_marked_in_the_log_and_on_the_detail_page(client, admin_user, ledger):
    key = ledger["entries"][0].api_key
    estimated = add_entry(
        NOW - timedelta(minutes=1),
        api_key=key,
        status="cancelled",
        cost_state="estimated",
        computed_cost=D("1"),
    )
    reconciled = add_entry(
        NOW - timedelta(minutes=2),
        api_key=key,
        status="cancelled",
        cost_state="reconciled",
        reported_cost=D("2"),
        meta={"reconcile": {"tries": 2, "last": "ok", "estimate": "0.5"}},
    )
    unreconciled = add_entry(
        NOW - timedelta(minutes=3),
        api_key=key,
        status="cancelled",
        cost_state="unreconciled",
        computed_cost=D("3"),
        meta={"reconcile": {"tries": 10, "last": "404"}},
    )

    html = log_in(client, admin_user).get("/activity/").content.decode()

    marks = re.findall(r'<span class="badge cost-state" title="([^"]+)">(\w+)</span>', html)
    assert marks == [
        ("estimated, awaiting reconciliation", "estimated"),
        ("reconciled with OpenRouter's billed cost", "reconciled"),
        ("estimated: the billed cost never came", "unreconciled"),
    ]
    notes = {
        row.pk: " ".join(
            re.search(
                r'<p class="note" id="cost-state">(.*?)</p>',
                client.get(f"/activity/{row.pk}/").content.decode(),
                re.S,
            )[1].split()
        )
        for row in (estimated, reconciled, unreconciled)
    }
    assert notes[estimated.pk].startswith(
        "<strong>Estimated</strong>: the request ended before its usage came"
    )
    assert notes[reconciled.pk] == (
        "<strong>Reconciled</strong>: the cost and tokens are what OpenRouter billed (estimated at first: 0.5 USD)."
    )
    assert "could not be had after 10 tries; the estimate stands." in notes[unreconciled.pk]
    assert 'id="cost-state"' not in client.get(f"/activity/{ledger['entries'][0].id}/").content.decode()
