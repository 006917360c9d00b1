"""static/js/playground/markdown.js in chromium: a reply's Markdown as DOM nodes, markup in it left as text."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

# Each text rendered into a fresh <div>, serialised by the browser (innerHTML: the test's reading only).
RENDER = """async (texts) => {
  const { renderMarkdown } = await import('/static/js/playground/markdown.js');
  return texts.map((text) => {
    const box = document.createElement('div');
    box.append(renderMarkdown(text));
    return box.innerHTML;
  });
}"""
LINK = 'rel="noopener noreferrer nofollow" target="_blank"'
CASES = [
    (
        "# Title\n\nSome *em*, **strong**, `code` and ~~gone~~.",
        '<h3 class="pg-md-heading">Title</h3>'
        "<p>Some <em>em</em>, <strong>strong</strong>, <code>code</code> and <del>gone</del>.</p>",
    ),
    (
        "Here:\n\n```python\nprint('<b>hi</b>')\n```\nAfter",
        "<p>Here:</p>"
        '<div class="pg-code-block"><div class="pg-code-head"><span class="pg-code-lang">python</span>'
        '<button class="pg-copy" type="button">Copy code</button></div>'
        "<pre><code class=\"language-python\">print('&lt;b&gt;hi&lt;/b&gt;')</code></pre></div>"
        "<p>After</p>",
    ),
    (
        "```js\nlet a = 1;",  # mid-stream: the fence is not closed yet
        '<div class="pg-code-block"><div class="pg-code-head"><span class="pg-code-lang">js</span>'
        '<button class="pg-copy" type="button">Copy code</button></div>'
        '<pre><code class="language-js">let a = 1;</code></pre></div>',
    ),
    (
        "- a\n- b\n  - c\n\n3. three\n4. four",
        "<ul><li><p>a</p></li><li><p>b</p><ul><li><p>c</p></li></ul></li></ul>"
        '<ol start="3"><li><p>three</p></li><li><p>four</p></li></ol>',
    ),
    (
        "| a | b |\n|---|:-:|\n| 1 | `x` |",
        '<div class="table-wrap"><table class="pg-md-table"><thead><tr><th>a</th><th>b</th></tr></thead>'
        "<tbody><tr><td>1</td><td><code>x</code></td></tr></tbody></table></div>",
    ),
    ("> quoted\n> more\n\n---", "<blockquote><p>quoted\nmore</p></blockquote><hr>"),
    (
        "[site](https://example.com) [bad](javascript:alert(1)) <https://x.org> ![pic](https://e.com/p.png)",
        f'<p><a href="https://example.com" {LINK}>site</a> [bad](javascript:alert(1)) '
        f'<a href="https://x.org" {LINK}>https://x.org</a> '
        f'<a href="https://e.com/p.png" {LINK}>image: pic</a></p>',
    ),
    (
        "a_b_c, \\*not em\\* and 2 * 3 * 4",
        "<p>a_b_c, *not em* and 2 * 3 * 4</p>",
    ),
    (
        '<script>window.pwned = 1</script>\n<img src="x" onerror="window.pwned = 2">',
        "<p>&lt;script&gt;window.pwned = 1&lt;/script&gt;\n"
        '&lt;img src="x" onerror="window.pwned = 2"&gt;</p>',
    ),
    (
        '[x](data:text/html,<script>alert(1)</script>) `<img src=x onerror="window.pwned = 3">`',
        "<p>[x](data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;) "
        '<code>&lt;img src=x onerror="window.pwned = 3"&gt;</code></p>',
    ),
]


def test_markdown_renders_as_these_nodes_and_markup_stays_text(live_asgi, page):
    page.goto(f"{live_asgi.url}/login/")

    rendered = page.evaluate(RENDER, [text for text, _ in CASES])

    assert rendered == [html for _, html in CASES]
    page.wait_for_timeout(200)  # an image's error handler, had one been made, would have run by now
    assert page.evaluate("() => window.pwned") is None
