"""The Content-Security-Policy in Debian's chromium: no page breaks it, and the revoke confirmation still asks."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from tests.dashboard.every_page import build_pages
from tests.dashboard.test_csp import POLICY, directives
from tests.usage.spend_data import make_key

pytestmark = pytest.mark.django_db(transaction=True)

# Recorded before any of the page's own scripts run; a new document starts a new list.
LISTEN = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
});
"""
SETTLED = "() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 50)))"
# Pages whose scripts leave a mark once they ran: proof the policy let them run.
RAN = {
    "model_detail": "() => !!Chart.getChart(document.getElementById('price-chart'))",
    "spend": "() => document.getElementById('spend-chart').dataset.drawn !== '0'",
    "status": "() => document.getElementById('status-chart').dataset.drawn === '1'",
    "admin:django_celery_beat_periodictask_change": (
        "() => document.querySelector('.field-crontab .help').textContent.includes('Translation: ')"
    ),
}


def test_no_page_reports_a_policy_violation(live_asgi, page, admin_user):
    pages = build_pages(admin_user)
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(LISTEN)

    def visit(name: str) -> None:
        response = page.goto(live_asgi.url + pages[name])
        assert response.status == 200, name
        assert directives(response.headers["content-security-policy"]) == directives(POLICY), name
        page.evaluate(SETTLED)
        assert page.evaluate("() => window.cspViolations") == [], name
        if name in RAN:
            page.wait_for_function(RAN[name])

    visit("login")
    log_in(page, live_asgi.url, "admin")
    for name in pages:
        if name != "login":
            visit(name)

    assert [text for text in console if "Content Security Policy" in text] == []

    # The listener does hear a violation: an inline style attribute is refused.
    page.evaluate("() => document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    page.wait_for_function("() => window.cspViolations.length > 0")
    assert page.evaluate("() => window.cspViolations[0]").startswith("style-src-attr blocked inline")


def test_revoke_asks_first_and_only_a_yes_revokes(live_asgi, page, admin_user):
    key = make_key("doomed", admin_user)
    log_in(page, live_asgi.url, "admin")
    page.goto(f"{live_asgi.url}/keys/")
    posts, dialogs = [], []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))

    def answer(yes: bool):
        def handle(dialog):
            dialogs.append((dialog.type, dialog.message))
            dialog.accept() if yes else dialog.dismiss()

        return handle

    revoke = page.locator(f"tr[data-key='{key.prefix}'] button:has-text('Revoke')")
    page.once("dialog", answer(False))
    revoke.click()
    page.wait_for_timeout(500)  # time enough for a submission to start, had there been one
    assert dialogs == [("confirm", "Revoke this key? Requests with it will be refused.")]
    assert posts == []
    key.refresh_from_db()
    assert key.revoked_at is None

    page.once("dialog", answer(True))
    with page.expect_navigation():
        revoke.click()
    assert len(dialogs) == 2
    assert posts == [f"{live_asgi.url}/keys/{key.id}/revoke/"]
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert page.inner_text(f"tr[data-key='{key.prefix}'] .badge") == "revoked"
