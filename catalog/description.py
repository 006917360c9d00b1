"""A model's description (OpenRouter's Markdown) as safe HTML for its page.

Markdown by Python-Markdown, then sanitised by nh3 (the Ammonia allow-list): no script, no style, no event
attribute, no `javascript:` URL survives, whatever the catalogue sends. OpenRouter's own links point at
its site: a model page there (`/anthropic/claude-opus-4.8`, `https://openrouter.ai/openai/gpt-5.6-luna`)
becomes ours (`/models/anthropic/claude-opus-4.8/`); its other pages (`/rankings#task-spend`) stay theirs,
made absolute.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import markdown
import nh3

OPENROUTER = "https://openrouter.ai"
OPENROUTER_HOSTS = {"openrouter.ai", "www.openrouter.ai"}
TAGS = {"p", "a", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "br", "h3", "h4", "hr"}


def description_html(text: str) -> str:
    """Safe HTML for a model description; "" for none."""
    if not text or not text.strip():
        return ""
    html = markdown.markdown(text, output_format="html")
    # Headings inside a card read as the card's sub-headings at most.
    for level in ("h1", "h2"):
        html = html.replace(f"<{level}>", "<h3>").replace(f"</{level}>", "</h3>")
    return nh3.clean(
        html,
        tags=TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer nofollow",
    )


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href":
        return link_target(value)
    return value


def link_target(href: str) -> str:
    """Where a description's link should lead: our model page for an OpenRouter model page."""
    parts = urlsplit(href.strip())
    ours = parts.netloc.lower() in OPENROUTER_HOSTS or (
        not parts.scheme and not parts.netloc and parts.path.startswith("/")
    )
    if not ours:
        return href
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["models"]:
        segments = segments[1:]
    if len(segments) == 2 and not parts.query:
        return "/models/" + "/".join(quote(s, safe=":~.-_") for s in segments) + "/"
    return (
        OPENROUTER
        + parts.path
        + (f"?{parts.query}" if parts.query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )
