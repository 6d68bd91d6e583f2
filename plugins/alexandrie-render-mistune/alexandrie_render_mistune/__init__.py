"""README rendering with mistune 3: GitHub-flavoured Markdown, Pygments, heading anchors, nh3 allow-list.

The output is stored at publish time and shown as is, so everything that leaves ``render`` has been
through ``sanitize``: no tag, attribute or URL scheme outside the allow-list survives.
"""

import html
import posixpath
import re
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

import mistune
import nh3
from flask import Blueprint
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from alexandrie import hookimpl

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
MARKDOWN_PLUGINS = ["table", "task_lists", "strikethrough", "url", "footnotes"]
LEXER_ALIASES = {"sh": "bash", "shell": "bash", "zsh": "bash", "console": "console", "shell-session": "console",
                 "rs": "rust", "ignore": "rust", "no_run": "rust", "should_panic": "rust", "compile_fail": "rust",
                 "edition2018": "rust", "edition2021": "rust"}

ALLOWED_TAGS = (set(nh3.ALLOWED_TAGS) - {"area", "map"}) | {"section"}
ALLOWED_ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "name", "aria-label"},
    "img": {"src", "alt", "width", "height", "align"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
    "li": {"value"},
    "details": {"open"},
    "p": {"align"}, "div": {"align"},
    **{f"h{n}": {"id", "align"} for n in range(1, 7)},
}
# Classes the renderer itself emits (Pygments tokens, task lists, footnotes, anchors).
ALLOWED_CLASSES = {
    "span": {"tok-" + c for c in "k kc kd kn kp kr kt n na nb nc nd ne nf nl nn nt nv o ow s s1 s2 sa sb sc sd se "
             "sh si sx sr ss c c1 cm cp cs ch cpf m mi mf mh mo mb il p err gp go w bp fm vc vg vi vm".split()},
    "div": {"highlight"},
    "li": {"task-list-item"},
    "a": {"anchor", "footnote-ref", "footnote"},
    "section": {"footnotes"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_SLUG_DROP = re.compile(r"[^\w\- ]", re.UNICODE)
_TAG = re.compile(r"<[^>]+>")


class ReadmeRenderer(mistune.HTMLRenderer):
    """HTML with heading ids (GitHub's slugs, de-duplicated) and Pygments-highlighted code."""

    def __init__(self):
        super().__init__(escape=False)
        self._slugs: dict[str, int] = {}

    def heading(self, text: str, level: int, **attrs) -> str:
        slug = self._unique(slugify(html.unescape(_TAG.sub("", text))))
        anchor = f'<a class="anchor" href="#{slug}" aria-label="Link to this section">¶</a>' if slug else ""
        ident = f' id="{slug}"' if slug else ""
        return f"<h{level}{ident}>{text} {anchor}</h{level}>\n"

    def block_code(self, code: str, info: str | None = None) -> str:
        lexer = lexer_for(info)
        if lexer is None:
            return f"<pre><code>{html.escape(code)}</code></pre>\n"
        return highlight(code, lexer, HtmlFormatter(classprefix="tok-", cssclass="highlight"))

    def _unique(self, slug: str) -> str:
        if not slug:
            return ""
        seen = self._slugs.get(slug, 0)
        self._slugs[slug] = seen + 1
        return slug if seen == 0 else f"{slug}-{seen}"


def render_task_list_item(renderer, text: str, checked: bool = False) -> str:
    # A ballot-box character rather than a disabled <input>: no form control inside stored HTML.
    box = "\u2611 " if checked else "\u2610 "
    if text.startswith("<p>"):
        text = text.replace("<p>", "<p>" + box, 1)
    else:
        text = box + text
    return f'<li class="task-list-item">{text}</li>\n'


def slugify(text: str) -> str:
    """GitHub's anchor rule: lower case, punctuation dropped, spaces become hyphens."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return _SLUG_DROP.sub("", text).replace(" ", "-")


def lexer_for(info: str | None):
    """A Pygments lexer for the fence's language (``rust,ignore`` counts as Rust), or None."""
    words = re.split(r"[\s,]+", (info or "").strip())
    name = words[0].lower() if words and words[0] else ""
    name = LEXER_ALIASES.get(name, name)
    if not name:
        return None
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        return None


# --- Relative links ------------------------------------------------------------------------------


def repository_base(repository: str | None) -> tuple[str, str] | None:
    """``(link base, image base)`` for relative paths, or None when the URL is not usable."""
    if not repository:
        return None
    parts = urlsplit(repository.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path.rstrip("/").removesuffix(".git")
    root = f"{parts.scheme}://{parts.netloc}{path}"
    host = parts.netloc.lower()
    if host in ("github.com", "www.github.com"):
        return f"{root}/blob/HEAD/", f"https://raw.githubusercontent.com{path}/HEAD/"
    if host == "gitlab.com" or host.startswith("gitlab."):
        return f"{root}/-/blob/HEAD/", f"{root}/-/raw/HEAD/"
    return f"{root}/", f"{root}/"


def resolve_relative(url: str, base: str, readme_dir: str) -> str:
    """``url`` made absolute against ``base``; absolute URLs, anchors and queries are left alone."""
    if not url or url.startswith(("#", "?", "//")) or urlsplit(url).scheme:
        return url
    path = url.lstrip("/") if url.startswith("/") else posixpath.join(readme_dir, url)
    path = posixpath.normpath(path)
    while path.startswith("../"):
        path = path[3:]
    return base + ("" if path == "." else path)


def sanitize(fragment: str, repository: str | None = None, filename: str | None = None) -> str:
    """The allow-list: only the tags, attributes, classes and URL schemes above survive."""
    bases = repository_base(repository)
    readme_dir = posixpath.dirname(filename or "").lstrip("./") if filename else ""

    def attribute_filter(tag: str, attr: str, value: str):
        if bases and (tag, attr) == ("a", "href"):
            return resolve_relative(value, bases[0], readme_dir)
        if bases and (tag, attr) == ("img", "src"):
            return resolve_relative(value, bases[1], readme_dir)
        return value

    cleaned = nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, allowed_classes=ALLOWED_CLASSES,
                        url_schemes=URL_SCHEMES, clean_content_tags={"script", "style", "svg", "math", "template",
                                                                     "iframe", "object", "noscript", "textarea",
                                                                     "select"},
                        attribute_filter=attribute_filter, link_rel="noopener noreferrer nofollow")
    return cleaned


def render_markdown(text: str, repository: str | None = None, filename: str | None = None) -> str:
    markdown = mistune.create_markdown(renderer=ReadmeRenderer(), plugins=MARKDOWN_PLUGINS, escape=False)
    markdown.renderer.register("task_list_item", render_task_list_item)
    return sanitize(markdown(text), repository, filename)


def is_markdown(filename: str | None) -> bool:
    """Cargo's default README is README.md; a file without a known suffix is treated as Markdown too."""
    if not filename:
        return True
    name = filename.lower()
    return name.endswith(MARKDOWN_SUFFIXES) or "." not in posixpath.basename(name)


@hookimpl
def alexandrie_render_readme(text, filename, repository):
    """Markdown READMEs; anything else (``.txt``, ``.rst``) is left to the plain-text renderer."""
    if not is_markdown(filename):
        return None
    return render_markdown(text, repository, filename)


# The stylesheet of the HTML rendered here, linked from every page (the core styles only its own).
bp = Blueprint("render_mistune", __name__, static_folder=str(Path(__file__).parent / "static"),
               static_url_path="/-/render-mistune")


@hookimpl
def alexandrie_blueprints(app):
    return [bp]


@hookimpl
def alexandrie_stylesheets(app):
    return ["/-/render-mistune/readme.css"]
