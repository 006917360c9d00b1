from io import StringIO

import httpx
import pytest
from django.core.management import call_command

CHART_JS = "/static/vendor/chart.js-4.6.1/chart.umd.min.js"


def test_chart_js_and_our_css_are_served_by_the_asgi_app_without_login(live_asgi):
    response = httpx.get(live_asgi.url + CHART_JS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert b"Chart.js v4.6.1" in response.content[:400]
    assert httpx.get(live_asgi.url + "/static/css/app.css").status_code == 200


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "No changes detected"
