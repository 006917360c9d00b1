"""A model's page: its description's Markdown rendered safely, the defaults it really has, and its way out to
the playground and to its own activity."""

from __future__ import annotations

import re

import pytest

from tests.catalog.page_data import VISION, build_catalogue
from tests.catalog.page_factories import make_model
from tests.dashboard.ledger_data import build_ledger

pytestmark = pytest.mark.django_db

DESCRIPTION = (
    "Beats [Opus 4.8](/anthropic/claude-opus-4.8) and [Luna](https://openrouter.ai/openai/gpt-5.6-luna); "
    "see [the rankings](/rankings#task-spend) and [Poolside](<https://poolside.ai/>).\n\n"
    "- **fast** and `cheap`\n"
    "- <script>alert(1)</script>[click](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
    "# A heading"
)
REL = ' rel="noopener noreferrer nofollow"'


def html_of(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def test_the_description_is_markdown_rendered_safely_with_links_to_our_model_pages(client, member):
    make_model("delta/chat", description=DESCRIPTION)
    html = html_of(client, member, "/models/delta/chat/")
    shown = re.search(r'<div class="description" id="model-description">(.*?)</div>', html, re.S).group(1)
    assert shown == (
        f'<p>Beats <a href="/models/anthropic/claude-opus-4.8/"{REL}>Opus 4.8</a> and '
        f'<a href="/models/openai/gpt-5.6-luna/"{REL}>Luna</a>; see '
        f'<a href="https://openrouter.ai/rankings#task-spend"{REL}>the rankings</a> and '
        f'<a href="https://poolside.ai/"{REL}>Poolside</a>.</p>\n'
        "<ul>\n<li><strong>fast</strong> and <code>cheap</code></li>\n"
        f"<li><a{REL}>click</a> </li>\n</ul>\n<h3>A heading</h3>"
    )
    assert "alert(1)" not in html and "onerror" not in html  # (the nav has an "Alerts" link)
    assert "[Opus 4.8]" not in html


def test_a_link_in_the_description_opens_the_linked_models_page(client, member):
    make_model("delta/chat", description="Like [Vision](/alpha/vision).")
    make_model("alpha/vision", name="Alpha Vision")
    html = html_of(client, member, "/models/delta/chat/")
    href = re.search(r'id="model-description"><p>Like <a href="([^"]+)"', html).group(1)
    assert href == "/models/alpha/vision/"
    assert "<h1>Alpha Vision</h1>" in html_of(client, member, href)


def test_a_model_without_a_description_shows_none(client, member):
    make_model("delta/chat", description="")
    assert 'id="model-description"' not in html_of(client, member, "/models/delta/chat/")


def test_defaults_leave_out_parameters_without_a_value(client, member):
    make_model(
        "delta/chat", default_parameters={"temperature": None, "top_p": 0.9, "frequency_penalty": None}
    )
    make_model("delta/none", default_parameters={"temperature": None, "top_p": None})
    html = html_of(client, member, "/models/delta/chat/")
    defaults = re.search(r"<strong>Defaults:</strong>(.*?)</p>", html, re.S).group(1)
    assert re.findall(r"<code>([^<]*)</code>", defaults) == ["top_p=0.9"]
    assert "None" not in defaults
    assert "Defaults:" not in html_of(client, member, "/models/delta/none/")


def test_open_in_playground_picks_the_model(client, member):
    make_model("delta/chat:beta")
    html = html_of(client, member, "/models/delta/chat:beta/")
    assert (
        '<a class="button" id="open-playground"\n    href="/playground/?model=delta/chat%3Abeta">'
        "Open in playground</a>"
    ) in html


def test_a_retired_model_offers_no_playground(client, member):
    make_model("delta/old", retired_at=make_model("delta/chat").first_seen)
    assert 'id="open-playground"' not in html_of(client, member, "/models/delta/old/")


def test_your_traffic_links_to_the_models_activity(client, member, admin_user):
    build_catalogue()
    build_ledger(member=member, admin=admin_user, model=VISION)
    html = html_of(client, member, f"/models/{VISION}/")
    href = re.search(r'<a id="traffic-activity" href="([^"]+)">', html).group(1)
    assert href == f"/activity/?model={VISION}"
    assert client.get(href).status_code == 200


def test_no_traffic_no_activity_link(client, member):
    make_model("delta/chat")
    assert 'id="traffic-activity"' not in html_of(client, member, "/models/delta/chat/")
