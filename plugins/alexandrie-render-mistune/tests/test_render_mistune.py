"""The mistune README renderer: GitHub-flavoured Markdown, highlighting, anchors, link rewriting and the allow-list."""

import re

import pytest

import alexandrie_render_mistune
from alexandrie_render_mistune import alexandrie_render_readme, render_markdown, repository_base

HOSTILE = """# Totally normal

[solo](javascript:window.__pwned=1) ![img](javascript:alert(1)) <javascript:alert(1)>

<script>window.__pwned = 1</script>
<img src="x.png" alt="x" onerror="window.__pwned = 1">
<a href="javascript:window.__pwned=1">click</a>
[md link](javascript:window.__pwned=1) [data](data:text/html,<script>alert(1)</script>)
<svg onload="window.__pwned=1"><script>window.__pwned=1</script></svg>
<style>body { display: none }</style>
<div style="background:url(javascript:alert(1))" onclick="window.__pwned=1">styled</div>
<iframe src="javascript:window.__pwned=1"></iframe>
<object data="x.swf"></object><embed src="x.swf">
<form action="/account/logout" method="post"><button>go</button></form>
<meta http-equiv="refresh" content="0;url=javascript:alert(1)">
<base href="https://evil.example/">
<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>
<a href="&#106;avascript:alert(1)">entity</a>
<details open ontoggle="window.__pwned=1"><summary>s</summary>d</details>
"""


def test_gfm_tables_task_lists_strikethrough_and_autolinks():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n~~old~~ https://example.com\n")
    assert "<table>" in html and "<td>1</td>" in html
    assert "\u2611 done" in html and "\u2610 todo" in html and 'class="task-list-item"' in html
    assert "<del>old</del>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">https://example.com</a>' in html


@pytest.mark.parametrize("info, token", [("rust", '<span class="tok-k">fn</span>'),
                                         ("rust,ignore", '<span class="tok-k">fn</span>'),
                                         ("toml", '<span class="tok-k">[package]</span>'),
                                         ("sh", '<span class="tok-nb">echo</span>')])
def test_code_blocks_are_highlighted(info, token):
    code = {"toml": "[package]\nname = \"x\"", "sh": "echo hi"}.get(info.split(",")[0], "fn main() {}")
    html = render_markdown(f"```{info}\n{code}\n```\n")
    assert '<div class="highlight">' in html and token in html


def test_unknown_languages_are_plain_escaped_code():
    html = render_markdown("```nosuchlang\n<b>x</b>\n```\n")
    assert "<pre><code>&lt;b&gt;x&lt;/b&gt;" in html


def test_headings_get_unique_github_style_anchors():
    html = render_markdown("# Getting Started!\n## Getting started\n### `cargo add` usage\n")
    assert '<h1 id="getting-started">' in html and '<h2 id="getting-started-1">' in html
    assert '<h3 id="cargo-add-usage">' in html and 'href="#getting-started"' in html


@pytest.mark.parametrize("repository, link, image", [
    ("https://github.com/acme/widget", "https://github.com/acme/widget/blob/HEAD/docs/guide.md",
     "https://raw.githubusercontent.com/acme/widget/HEAD/img/logo.png"),
    ("https://github.com/acme/widget.git/", "https://github.com/acme/widget/blob/HEAD/docs/guide.md",
     "https://raw.githubusercontent.com/acme/widget/HEAD/img/logo.png"),
    ("https://gitlab.com/group/sub/widget", "https://gitlab.com/group/sub/widget/-/blob/HEAD/docs/guide.md",
     "https://gitlab.com/group/sub/widget/-/raw/HEAD/img/logo.png"),
    ("https://git.example.org/widget", "https://git.example.org/widget/docs/guide.md",
     "https://git.example.org/widget/img/logo.png"),
])
def test_relative_links_and_images_point_at_the_repository(repository, link, image):
    html = render_markdown("[guide](docs/guide.md) ![logo](./img/logo.png) <img src=\"/img/logo.png\" alt=\"l\">"
                           " [abs](https://other.example/x) [here](#top)", repository, "README.md")
    assert f'href="{link}"' in html and html.count(f'src="{image}"') == 2
    assert 'href="https://other.example/x"' in html and 'href="#top"' in html


def test_readme_in_a_subfolder_resolves_against_that_folder():
    html = render_markdown("[x](guide.md) [up](../LICENSE)", "https://github.com/a/b", "docs/README.md")
    assert 'href="https://github.com/a/b/blob/HEAD/docs/guide.md"' in html
    assert 'href="https://github.com/a/b/blob/HEAD/LICENSE"' in html


def test_without_a_usable_repository_links_stay_relative():
    assert repository_base("javascript:alert(1)") is None and repository_base(None) is None
    assert 'href="docs/guide.md"' in render_markdown("[g](docs/guide.md)", "ftp://x/y")


def test_hostile_html_is_reduced_to_inert_markup():
    html = render_markdown(HOSTILE, "https://github.com/a/b", "README.md")
    lowered = html.lower()
    assert not re.search(r'(href|src|action|data)\s*=\s*"\s*(javascript|data|vbscript):', lowered)
    for forbidden in ("<script", "onerror", "onload", "onclick", "ontoggle", "<svg", "<style",
                      "style=", "<iframe", "<object", "<embed", "<form", "<meta", "<base", "<math"):
        assert forbidden not in lowered, forbidden
    assert "styled" in html and "Totally normal" in html


def test_keeps_harmless_html_readmes_use():
    html = render_markdown('<p align="center"><img src="logo.png" alt="Logo" width="200"></p>\n\n'
                           "<details><summary>More</summary>\n\nHidden *text*\n\n</details>\n<kbd>Ctrl</kbd>",
                           "https://github.com/a/b", "README.md")
    assert '<p align="center">' in html and 'width="200"' in html and 'alt="Logo"' in html
    assert "<details><summary>More</summary>" in html and "<kbd>Ctrl</kbd>" in html


def test_hook_leaves_non_markdown_readmes_to_the_next_renderer():
    assert alexandrie_render_readme(text="plain", filename="README.txt", repository=None) is None
    assert alexandrie_render_readme(text="plain", filename="README.rst", repository=None) is None
    assert "<em>x</em>" in alexandrie_render_readme(text="*x*", filename="README.md", repository=None)
    assert "<em>x</em>" in alexandrie_render_readme(text="*x*", filename="README", repository=None)


def test_the_plugin_brings_the_stylesheet_of_its_html(make_app):
    """The core's CSS styles only the core's HTML; the highlighting classes are styled by the plugin's own file."""
    client = make_app(plugins=[alexandrie_render_mistune]).test_client()
    sheet = client.get("/-/render-mistune/readme.css")
    assert sheet.status_code == 200 and sheet.mimetype == "text/css" and ".tok-k" in sheet.get_data(as_text=True)
    assert '<link rel="stylesheet" href="/-/render-mistune/readme.css">' in client.get("/").get_data(as_text=True)
    assert ".tok-k" not in client.get("/assets/alexandrie.css").get_data(as_text=True)
    assert "render-mistune" not in make_app().test_client().get("/").get_data(as_text=True)
