"""Dark mode in chromium: the system's choice is followed, a toggle overrides it and is remembered, the theme
is set before the body exists (no flash of the light theme), and charts take the palette's colours."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from tests.browser.test_spend_pages import traffic as traffic  # the fixture

pytestmark = pytest.mark.django_db(transaction=True)

DARK_BG, LIGHT_BG = "rgb(15, 20, 28)", "rgb(246, 247, 249)"
DARK_MUTED, LIGHT_MUTED = "#9aa5b8", "#5d6778"
# What data-theme and the background were when the <body> element first appeared (before it painted).
AT_FIRST_BODY = """
new MutationObserver((changes, observer) => {
  if (!document.body || !document.documentElement) return;
  window.atFirstBody = {
    theme: document.documentElement.getAttribute("data-theme"),
    background: getComputedStyle(document.documentElement).backgroundColor,
  };
  observer.disconnect();
}).observe(document, { childList: true, subtree: true });
"""


@pytest.fixture
def context_for(browser):
    contexts = []

    def make(scheme: str):
        context = browser.new_context(viewport={"width": 1360, "height": 900}, color_scheme=scheme)
        context.add_init_script(AT_FIRST_BODY)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


def background(page) -> str:
    return page.evaluate("() => getComputedStyle(document.documentElement).backgroundColor")


def chart_tick_colour(page) -> str:
    return page.evaluate(
        "() => Chart.getChart(document.getElementById('spend-chart')).scales.y.options.ticks.color"
    )


def test_a_dark_system_gets_the_dark_palette_charts_included(live_asgi, context_for, admin_user, traffic):
    page = context_for("dark")
    log_in(page, live_asgi.url, "admin")
    page.goto(f"{live_asgi.url}/spend/?range=7d")
    page.wait_for_function("() => document.getElementById('spend-chart').dataset.drawn !== '0'")

    assert background(page) == DARK_BG
    assert page.evaluate("() => window.atFirstBody") == {"theme": None, "background": DARK_BG}
    assert chart_tick_colour(page) == DARK_MUTED
    assert page.get_attribute("#theme-toggle", "aria-pressed") == "true"


def test_the_toggle_overrides_the_system_is_remembered_and_never_flashes(
    live_asgi, context_for, admin_user, traffic
):
    page = context_for("light")
    log_in(page, live_asgi.url, "admin")
    page.goto(f"{live_asgi.url}/spend/?range=7d")
    page.wait_for_function("() => document.getElementById('spend-chart').dataset.drawn !== '0'")
    assert background(page) == LIGHT_BG
    assert chart_tick_colour(page) == LIGHT_MUTED

    page.click("#theme-toggle")
    assert background(page) == DARK_BG
    assert chart_tick_colour(page) == DARK_MUTED  # the chart redrew in the new palette

    page.goto(f"{live_asgi.url}/keys/")
    # Dark from the very first paint: the theme was set before the <body> existed.
    assert page.evaluate("() => window.atFirstBody") == {"theme": "dark", "background": DARK_BG}
    page.click("#theme-toggle")
    page.reload()
    assert page.evaluate("() => window.atFirstBody") == {"theme": "light", "background": LIGHT_BG}


def test_the_theme_script_is_a_blocking_static_file_in_the_head(live_asgi, page, admin_user):
    log_in(page, live_asgi.url, "admin")
    script = page.evaluate(
        """() => { const s = document.head.querySelector('script[src$="/js/theme.js"]');
                   return s && [s.async, s.defer, s.type]; }"""
    )
    assert script == [False, False, ""]
