"""The activity log's filters in Debian's chromium: part of a model id and a provider in another case find
their rows, and the URL keeps only the filters that are set."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import log_in
from tests.usage.spend_data import entry, make_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def traffic(member):
    key = make_key("alpha", member)
    now = timezone.now()
    served = [
        ("openai/gpt-4o", "OpenAI"),
        ("openai/gpt-4o-mini", "Azure"),
        ("anthropic/claude-sonnet-4", "Anthropic"),
        ("anthropic/claude-3.5-haiku", "Azure"),
        ("google/gemini-2.5-pro", "Google"),
    ]
    return {
        model: entry(
            now - timedelta(minutes=minute + 1),
            api_key=key,
            model=model,
            provider=provider,
            computed_cost=Decimal("0.001"),
            latency_ms=1500,
        )
        for minute, (model, provider) in enumerate(served)
    }


def shown_models(page) -> list[str]:
    return page.locator("#activity-table tbody tr td:nth-child(4)").all_inner_texts()


def test_part_of_a_model_and_a_provider_in_any_case_find_their_rows(live_asgi, page, member, traffic):
    log_in(page, live_asgi.url, "member")
    page.goto(f"{live_asgi.url}/activity/")
    assert page.locator("#activity-count").inner_text() == "5 matching requests"

    page.fill("input[name=model]", "gpt-4o")
    page.click("#activity-filters button[type=submit]")
    page.wait_for_url(f"{live_asgi.url}/activity/?model=gpt-4o")  # the unset filters left the URL
    assert shown_models(page) == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert page.locator("#activity-count").inner_text() == "2 matching requests"

    page.fill("input[name=model]", "")
    page.fill("input[name=provider]", "azure")
    page.click("#activity-filters button[type=submit]")
    page.wait_for_url(f"{live_asgi.url}/activity/?provider=azure")
    assert shown_models(page) == ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]

    page.fill("input[name=model]", "claude")
    page.click("#activity-filters button[type=submit]")
    page.wait_for_url(f"{live_asgi.url}/activity/?model=claude&provider=azure")
    assert shown_models(page) == ["anthropic/claude-3.5-haiku"]
    assert page.locator("#activity-table tbody tr td:nth-child(10)").all_inner_texts() == ["1.5 s"]
