"""Templates stay readable: no line over 120 characters (the house style's limit, as ruff's for Python).

A long line is reflowed where whitespace shows nothing: between elements, between a tag's attributes, between
words. A template tag must stay on one line, so long values go in a surrounding `{% with %}`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT

MAX_CHARACTERS = 120
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


def long_lines(path: Path) -> list[tuple[int, int]]:
    """(line number, characters) of each line over the limit."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(number, len(line)) for number, line in enumerate(lines, 1) if len(line) > MAX_CHARACTERS]


def name(path: Path) -> str:
    return path.relative_to(ROOT / "templates").as_posix()


def test_the_check_finds_a_long_line_and_counts_characters_not_bytes(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<p>ok</p>\n" + "é" * 120 + "\n<p>" + "x" * 114 + "</p>\n", encoding="utf-8")
    assert long_lines(page) == [(3, 121)]


def test_there_are_templates():
    assert len(TEMPLATES) > 10


@pytest.mark.parametrize("path", TEMPLATES, ids=name)
def test_no_template_line_is_over_120_characters(path):
    assert long_lines(path) == []
