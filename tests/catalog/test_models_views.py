"""/models/: the catalogue table, its filters and sorts, all in the query string."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.catalog.page_data import AUTO, FREE, IMAGE_GEN, OLD, SMALL, VISION, build_catalogue
from tests.catalog.page_factories import T0, make_model

pytestmark = pytest.mark.django_db

CURRENT = [SMALL, VISION, FREE, AUTO, IMAGE_GEN]


@pytest.fixture
def catalogue():
    build_catalogue()


@pytest.fixture
def get(client, member, catalogue):
    client.force_login(member)

    def _get(query: str = ""):
        response = client.get(f"/models/{query}", follow=True)  # the default sort redirects to no sort
        assert response.status_code == 200
        return response.content.decode()

    return _get


def ids(html: str) -> list[str]:
    return re.findall(r'<tr data-model="([^"]+)"', html)


def row(html: str, model_id: str) -> str:
    match = re.search(rf'<tr data-model="{re.escape(model_id)}">(.*?)</tr>', html, re.S)
    assert match, model_id
    return match.group(1)


def cells(html: str, model_id: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", c).strip()
        for c in re.findall(r'<td class="num[^"]*">(.*?)</td>', row(html, model_id), re.S)
    ]


def test_it_needs_a_login(client, catalogue):
    response = client.get("/models/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_lists_current_models_newest_first_and_hides_retired_ones(get):
    html = get()
    assert ids(html) == [IMAGE_GEN, VISION, FREE, SMALL, AUTO]
    assert "<strong>5</strong> of 5 models" in html


def test_it_shows_prices_per_million_tokens(get):
    html = get()
    # context (as OpenRouter writes it), input, output, cache read, cache write, per request / image, created
    assert cells(html, SMALL) == ["32K", "$0.10", "$0.40", "—", "—", "—", "2025-01-01"]
    assert cells(html, VISION) == ["200K", "$3.00", "$15.00", "$0.30", "$3.75", "—", "2025-06-01"]
    assert cells(html, IMAGE_GEN) == [
        "8K",
        "$1.00",
        "$4.00",
        "—",
        "—",
        "$0.0004/req<br>$0.001/img",
        "2025-09-01",
    ]


def test_variable_prices_get_a_badge_and_are_never_negative(get):
    html = get()
    assert '<span class="badge variable">variable price</span>' in row(html, AUTO)
    assert cells(html, AUTO)[1:3] == ["variable", "variable"]
    assert "-1" not in row(html, AUTO)
    assert "$-" not in html


def test_free_models_get_a_badge(get):
    html = get()
    assert '<span class="badge free">free</span>' in row(html, FREE)
    assert "badge free" not in row(html, SMALL)


def test_it_shows_modalities_and_capabilities(get):
    vision = row(get(), VISION)
    assert "text+image → text" in vision
    assert "tools, structured outputs, reasoning" in vision


def test_the_model_links_to_its_page(get):
    assert '<a href="/models/alpha/vision/">Alpha Vision Pro</a>' in get()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?q=small", [SMALL]),  # name / id
        ("?q=CLASSIFICATION", [SMALL]),  # description, any case
        ("?q=alpha+images", [VISION]),  # every term must match
        ("?q=beta/", [IMAGE_GEN, FREE]),  # id
        ("?author=alpha", [VISION, SMALL]),
        ("?input_modality=image", [VISION]),
        ("?output_modality=image", [IMAGE_GEN]),
        ("?parameter=structured_outputs", [VISION]),
        ("?parameter=tools", [VISION, SMALL]),
        ("?max_input=1", [IMAGE_GEN, FREE, SMALL]),  # $1.00 is at most $1; variable is never "under"
        ("?max_input=0.99", [FREE, SMALL]),
        ("?max_output=0.4", [FREE, SMALL]),
        ("?min_context=128000", [VISION, FREE, AUTO]),
        ("?free=1", [FREE]),
        ("?retired=1", [IMAGE_GEN, VISION, FREE, SMALL, AUTO, OLD]),
        ("?author=alpha&max_input=0.5&parameter=tools", [SMALL]),
    ],
)
def test_each_filter(get, query, expected):
    assert ids(get(query)) == expected


def test_it_counts_matches(get):
    assert "<strong>2</strong> of 5 models match" in get("?author=alpha")


def test_retired_models_are_shown_with_a_badge_when_asked(get):
    assert '<span class="badge retired">retired</span>' in row(get("?retired=1"), OLD)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", [SMALL, VISION, FREE, IMAGE_GEN, OLD, AUTO]),
        ("-name", [AUTO, OLD, IMAGE_GEN, FREE, VISION, SMALL]),
        ("id", [SMALL, VISION, FREE, IMAGE_GEN, OLD, AUTO]),
        ("-id", [AUTO, OLD, IMAGE_GEN, FREE, VISION, SMALL]),
        ("author", [SMALL, VISION, FREE, IMAGE_GEN, OLD, AUTO]),
        ("-author", [AUTO, OLD, FREE, IMAGE_GEN, SMALL, VISION]),
        ("context", [OLD, IMAGE_GEN, SMALL, FREE, VISION, AUTO]),
        ("-context", [AUTO, VISION, FREE, SMALL, IMAGE_GEN, OLD]),
        # unknown (variable) prices always last
        ("input", [FREE, SMALL, IMAGE_GEN, OLD, VISION, AUTO]),
        ("-input", [VISION, OLD, IMAGE_GEN, SMALL, FREE, AUTO]),
        ("output", [FREE, SMALL, OLD, IMAGE_GEN, VISION, AUTO]),
        ("-output", [VISION, IMAGE_GEN, OLD, SMALL, FREE, AUTO]),
        # a category a model does not price (0) sorts last too, by id
        ("cache_read", [VISION, SMALL, FREE, IMAGE_GEN, OLD, AUTO]),
        ("-cache_read", [VISION, SMALL, FREE, IMAGE_GEN, OLD, AUTO]),
        ("-cache_write", [VISION, SMALL, FREE, IMAGE_GEN, OLD, AUTO]),
        ("request", [IMAGE_GEN, SMALL, VISION, FREE, OLD, AUTO]),
        ("-request", [IMAGE_GEN, SMALL, VISION, FREE, OLD, AUTO]),
        ("-image", [IMAGE_GEN, SMALL, VISION, FREE, OLD, AUTO]),
        ("created", [OLD, AUTO, SMALL, FREE, VISION, IMAGE_GEN]),
        ("-created", [IMAGE_GEN, VISION, FREE, SMALL, AUTO, OLD]),
        ("modalities", [VISION, IMAGE_GEN, SMALL, FREE, OLD, AUTO]),
        ("-capabilities", [VISION, SMALL, FREE, IMAGE_GEN, OLD, AUTO]),
        ("capabilities", [FREE, IMAGE_GEN, OLD, AUTO, SMALL, VISION]),
    ],
)
def test_each_sort_both_ways(get, sort, expected):
    assert ids(get(f"?retired=1&sort={sort}")) == expected


def test_sort_links_keep_the_filters_and_flip_the_direction(get):
    html = get("?author=alpha&sort=input")
    assert 'href="?author=alpha&amp;sort=-input" data-sort="input">Input /1M ▲</a>' in html
    assert 'href="?author=alpha&amp;sort=output" data-sort="output">Output /1M</a>' in html
    assert 'href="?author=alpha" data-sort="created">' in html  # newest first: the default, no sort
    assert 'href="?sort=input" data-sort="input">Input /1M ▼</a>' in get("?sort=-input")


def test_the_filter_form_keeps_its_state(get):
    html = get("?q=alpha&author=alpha&max_input=2.5&free=1&retired=1&sort=-output")
    assert 'name="q" value="alpha"' in html
    assert '<option value="alpha" selected>alpha</option>' in html
    assert 'name="max_input" value="2.5"' in html
    assert 'name="free" value="1" checked' in html
    assert 'name="retired" value="1" checked' in html
    assert '<input type="hidden" name="sort" value="-output">' in html


def test_an_unknown_sort_key_says_so_and_sorts_by_newest(get):
    html = get("?sort=price")
    assert "Unknown sort order “price”: sorted by newest instead." in html
    assert ids(html) == [IMAGE_GEN, VISION, FREE, SMALL, AUTO]


def test_a_non_numeric_price_says_so_and_keeps_the_other_filters(get):
    html = get("?max_input=cheap&author=alpha&min_context=-5")
    assert "Max input $/1M: Enter a number." in html
    assert "Min context: Ensure this value is greater than or equal to 0." in html
    assert ids(html) == [VISION, SMALL]


def test_an_empty_result_says_so_and_offers_to_clear_the_filters(get):
    html = get("?q=nothing-like-this")
    assert ids(html) == []
    assert "No model matches these filters." in html
    assert '<a class="button primary" href="/models/">Clear filters</a>' in html


def test_models_can_be_selected_for_comparison(get):
    html = get()
    assert '<form method="get" action="/compare/" id="compare-form"' in html
    assert 'name="models" value="alpha/small" form="compare-form"' in html


def test_the_filter_choices_come_from_the_catalogue(get):
    html = get()
    assert '<option value="beta">beta</option>' in html
    assert "<option>structured_outputs</option>" in html
    assert "<option>image</option>" in html


def test_query_count_does_not_grow_with_the_number_of_models(client, member, catalogue):
    client.force_login(member)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/models/?sort=-input").status_code == 200
    for i in range(30):
        make_model(f"many/model-{i}")
    with CaptureQueriesContext(connection) as many:
        html = client.get("/models/?sort=-input").content.decode()
    assert len(ids(html)) == 35
    assert len(many) == len(few)
    assert len(few) <= 6  # session, user, models, prices


def test_capabilities_sort_most_capable_first_on_a_first_click(get):
    assert 'href="?sort=-capabilities" data-sort="capabilities">Capabilities</a>' in get()


def test_catalogue_strings_are_escaped_in_the_table(get):
    make_model('evil/"x"<i>', name="<script>alert(1)</script>", author="<b>", input_modalities=["<img>"])
    html = get()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<tr data-model="evil/&quot;x&quot;&lt;i&gt;">' in html
    assert '<option value="&lt;b&gt;">&lt;b&gt;</option>' in html  # the author filter
    assert "&lt;img&gt; → text" in html


SONNET_OVERRIDES = [
    {"min_prompt_tokens": 200000, "prompt": "0.000006", "completion": "0.0000225"},
]
DEEPSEEK_OVERRIDES = [
    {"utc_start": 100, "utc_end": 400, "prompt": "0.00000132", "completion": "0.00000396"},
]


def test_tiered_and_timed_models_show_the_base_price_with_a_mark_and_filter_by_it(get):
    make_model("tiers/sonnet", prices=[(T0, {"prompt": "0.000003", "completion": "0.000015",
                                             "overrides": SONNET_OVERRIDES})])  # fmt: skip
    make_model("times/deepseek", prices=[(T0, {"prompt": "0.00000066", "completion": "0.00000198",
                                               "overrides": DEEPSEEK_OVERRIDES})])  # fmt: skip
    html = get()
    assert cells(html, "tiers/sonnet")[1:3] == ["$3.00", "$15.00"]
    assert '<span class="badge tiered"' in row(html, "tiers/sonnet")
    assert '<span class="badge timed"' not in row(html, "tiers/sonnet")
    assert cells(html, "times/deepseek")[1:3] == ["$0.66", "$1.98"]
    assert '<span class="badge timed"' in row(html, "times/deepseek")
    assert '<span class="badge tiered"' not in row(html, "times/deepseek")
    assert "tiered" not in row(html, SMALL) and "timed" not in row(html, SMALL)
    # the price filters read the base price: $3 input passes "at most $3", its $6 tier does not count
    assert "tiers/sonnet" in ids(get("?max_input=3"))
    assert "tiers/sonnet" not in ids(get("?max_input=2.99"))
    assert "times/deepseek" in ids(get("?max_output=1.98"))


def test_a_url_keeps_only_the_fields_that_are_set(client, member, catalogue):
    client.force_login(member)
    query = "?q=&author=alpha&input_modality=&max_input=&min_context=&sort=-created"

    response = client.get(f"/models/{query}")

    assert (response.status_code, response["Location"]) == (302, "/models/?author=alpha")
    assert client.get("/models/?q=&sort=-created")["Location"] == "/models/"
    html = client.get("/models/?author=alpha").content.decode()
    assert 'name="sort"' not in html  # the default sort is not carried in the form


@pytest.mark.parametrize(
    ("tokens", "shown"),
    [
        (131072, "131K"),
        (1048576, "1.05M"),
        (2000000, "2M"),
        (1000000, "1M"),
        (200000, "200K"),
        (32768, "33K"),
        (8192, "8K"),
        (999, "999"),
        (999_499, "999K"),
        (999_500, "1M"),
        (10_000_000, "10M"),
        (None, "—"),
    ],
)
def test_the_context_reads_like_openrouters(tokens, shown):
    from catalog.templatetags.catalog_prices import context_tokens

    assert context_tokens(tokens) == shown
