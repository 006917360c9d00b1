"""Captured bodies in chromium: a key created on /keys/ with "Capture bodies", used through the gateway; its
request's page shows the conversation with the credential in the prompt redacted; another key's request
keeps nothing; another member gets a 404."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import log_in
from tests.usage.gateway_data import make_catalogue
from usage.gateway.app import gateway
from usage.models import CapturedExchange

pytestmark = pytest.mark.django_db(transaction=True)
CALL = {"id": "call_7", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}


def create_key(page, base_url: str, name: str, capture: bool) -> str:
    page.goto(f"{base_url}/keys/")
    page.fill("#key-create input[name=name]", name)
    if capture:
        page.check("#key-create input[name=capture_bodies]")
    page.click("#key-create button[type=submit]")
    page.wait_for_url(f"{base_url}/keys/")
    return page.locator("#new-secret").inner_text()


def chat(gateway_server, secret: str, messages: list) -> None:
    response = httpx.post(
        f"{gateway_server.api_url}/chat/completions",
        json={"model": "openai/gpt-4o-mini", "messages": messages},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.text


def test_an_opted_in_keys_conversation_shows_redacted_and_others_keep_nothing(
    gateway_server, page, member, outsider
):
    make_catalogue()
    log_in(page, gateway_server.url, "member")
    capturing = create_key(page, gateway_server.url, "debug key", capture=True)
    plain = create_key(page, gateway_server.url, "plain key", capture=False)
    assert page.locator("#keys-table tr", has_text="debug key").locator(".badge.capture").count() == 1
    assert page.locator("#keys-table tr", has_text="plain key").locator(".badge.capture").count() == 0

    gateway_server.fake.reply(tool_calls=[CALL])
    prompt = "Weather in Oslo? <b>bold</b> My OpenAI key is sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA."
    chat(
        gateway_server,
        capturing,
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
    )
    gateway_server.fake.reply(text="Plain.")
    chat(gateway_server, plain, [{"role": "user", "content": "Hi"}])
    captured_row, plain_row = gateway_server.ledger(2)
    assert gateway.writer.flush()
    assert list(CapturedExchange.objects.values_list("entry_id", flat=True)) == [captured_row.id]

    page.goto(f"{gateway_server.url}/activity/{captured_row.id}/")
    turns = page.locator("#conversation .turn")
    assert turns.locator(".turn-role").all_inner_texts() == ["SYSTEM", "USER", "ASSISTANT"]  # CSS upper case
    assert turns.nth(0).locator(".part-text").inner_text() == "Be brief."
    assert (
        turns.nth(1).locator(".part-text").inner_text()
        == "Weather in Oslo? <b>bold</b> My OpenAI key is sk-[REDACTED]."
    )
    assert turns.nth(1).locator("b").count() == 0  # shown as text, never as markup
    call = turns.nth(2).locator(".part-tool-call")
    assert call.locator(".part-label").inner_text() == "Tool call weather · call_7"
    assert call.locator("pre").inner_text() == '{\n  "city": "Oslo"\n}'
    assert "sk-proj-" not in page.content()
    assert '"total_tokens": 20' in page.locator("#capture-usage").inner_text()

    page.goto(f"{gateway_server.url}/activity/{plain_row.id}/")
    assert page.locator("h1").inner_text().startswith(f"Request {plain_row.id}")
    assert page.locator("#conversation").count() == 0

    page.context.clear_cookies()
    log_in(page, gateway_server.url, "outsider")
    response = page.goto(f"{gateway_server.url}/activity/{captured_row.id}/")
    assert response.status == 404
    assert "Be brief." not in page.content()
