"""/keys/ in chromium: creating a key redirects (a reload adds no key), the secret is shown once with a copy
button, and the form offers what create_api_key does."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from usage.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clipboard_page(browser, live_asgi):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_asgi.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_a_reload_after_creating_a_key_adds_no_key_and_the_secret_copies(live_asgi, clipboard_page, member):
    page = clipboard_page
    log_in(page, live_asgi.url, "member")
    page.goto(f"{live_asgi.url}/keys/")
    page.fill("#key-create input[name=name]", "ci runner")
    page.fill("#key-create input[name=budget_usd]", "5")
    page.select_option("#key-create select[name=budget_period]", "daily")
    page.fill("#key-create input[name=rpm_limit]", "20")
    page.fill("#key-create input[name=tpm_limit]", "10000")
    page.fill("#key-create input[name=allowed_models]", "openai/*")
    page.fill("#key-create input[name=expires_at]", "2031-05-01T09:30")
    page.click("#key-create button[type=submit]")

    page.wait_for_url(f"{live_asgi.url}/keys/")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("tl-")
    page.click("[data-copy=new-secret]")
    page.wait_for_function("() => document.querySelector('[data-copy=new-secret]').textContent === 'Copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret

    page.reload()
    assert page.locator("#new-secret").count() == 0
    assert secret not in page.content()
    key = ApiKey.objects.get()  # one key: the reload posted nothing again
    assert (key.name, key.budget_period, key.rpm_limit, key.tpm_limit, key.allowed_models) == (
        "ci runner",
        "daily",
        20,
        10000,
        ["openai/*"],
    )
    assert key.expires_at.isoformat() == "2031-05-01T09:30:00+00:00"
