"""Every page sends a strict Content-Security-Policy, and no template carries inline script or style."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.dashboard.every_page import NOT_PAGES, build_pages, url_names

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
OUR_JS = sorted((ROOT / "static" / "js").glob("*.js"))


def directives(header: str) -> dict[str, str]:
    """{directive: its sources}: django-csp writes the directives in no fixed order."""
    parts = [part.strip().split(None, 1) for part in header.split(";") if part.strip()]
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def test_the_policy_allows_no_inline_script_nor_eval():
    script_src = directives(POLICY)["script-src"]
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src


@pytest.mark.django_db
def test_the_walk_covers_every_named_url(admin_user):
    pages = build_pages(admin_user)
    assert url_names() - NOT_PAGES == {name for name in pages if not name.startswith("admin:")}


@pytest.mark.django_db
def test_every_page_sends_the_policy(client, admin_user):
    pages = build_pages(admin_user)
    anonymous = client.get(pages["login"])
    client.force_login(admin_user)
    for name, path in pages.items():
        response = anonymous if name == "login" else client.get(path)
        assert response.status_code == 200, path
        assert directives(response["Content-Security-Policy"]) == directives(POLICY), path
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):  # what the page runs: files, or JSON data
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)


@pytest.mark.django_db
def test_json_and_csv_answers_send_it_too(client, admin_user):
    client.force_login(admin_user)
    for path in ("/healthz", "/spend/export/model.csv", "/activity/export.csv", "/catalog/changes/feed/"):
        response = client.get(path)
        assert directives(response["Content-Security-Policy"]) == directives(POLICY), path


def test_there_are_templates_and_scripts_to_scan():
    assert len(TEMPLATES) > 10
    assert Path(ROOT / "static" / "js" / "keys.js") in OUR_JS


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_no_template_has_inline_script_handlers_or_styles(path):
    text = path.read_text(encoding="utf-8")
    tags = re.findall(r"<[a-zA-Z][^>]*>", text)
    inline_scripts = [tag for tag in tags if re.match(r"<script\b", tag, re.I) and "src=" not in tag]
    handlers = [tag for tag in tags if re.search(r"\son[a-z]+\s*=", tag, re.I)]
    styles = [tag for tag in tags if re.search(r"\sstyle\s*=", tag, re.I) or re.match(r"<style\b", tag, re.I)]
    assert inline_scripts == []
    assert handlers == []
    assert styles == []
    assert "javascript:" not in text.lower()


@pytest.mark.parametrize("path", OUR_JS, ids=lambda p: p.name)
def test_no_script_evaluates_strings_or_writes_inline_handlers(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\beval\s*\(|new\s+Function\s*\(|set(Timeout|Interval)\s*\(\s*[\"'`]", text)
    assert not re.search(r"setAttribute\(\s*[\"'](on[a-z]+|style)[\"']", text)
    assert not re.search(r"\son[a-z]+\s*=\s*[\"'\\]|\sstyle\s*=\s*[\"'\\]|javascript:", text, re.I)
