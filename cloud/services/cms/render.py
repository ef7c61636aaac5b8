"""Markdown to safe HTML: markdown-it-py renders, nh3 (ammonia, a maintained sanitiser)
cleans.

Two layers:

- :func:`check` refuses, naming the line, what an editor should never write: raw HTML
  (``<script>``, ``<img onerror=...>``, ``<svg>``, ``<style>``, ...) and links or images
  whose URL is not ``http``, ``https``, ``mailto`` or relative (``javascript:``,
  ``data:``, ``vbscript:``). The API answers 422 with ``field: body.body_md``.
- :func:`render` turns Markdown into HTML with raw HTML *off* (typed tags come out as
  text), then passes it through nh3 with an allow-list of tags and attributes and only
  those URL schemes. Whatever :func:`check` might miss, nothing executable survives:
  no script or style element, no event-handler attribute, no ``javascript:`` or
  ``data:`` URL, no SVG. :func:`sanitise` is that second layer on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

#: Tags the rendered Markdown may contain (what CommonMark produces, tables aside).
TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "em",
        "del",
        "s",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "img",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
)
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*):")

_strict = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
_safe = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


@dataclass(frozen=True, slots=True)
class Refusal:
    line: int
    reason: str


class MarkdownRefused(ValueError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"line {refusal.line}: {refusal.reason}")
        self.refusal = refusal


def _url_ok(url: str) -> bool:
    m = _SCHEME.match(url)
    return m is None or m.group(1).lower() in URL_SCHEMES


def _walk(tokens: list[Token], line: int) -> Refusal | None:
    for tok in tokens:
        at = tok.map[0] + 1 if tok.map else line
        if tok.type in ("html_block", "html_inline"):
            shown = tok.content.strip().splitlines()[0][:60] if tok.content.strip() else "html"
            return Refusal(at, f"raw HTML is not allowed ({shown}); write Markdown")
        for attr in ("href", "src"):
            value = tok.attrGet(attr)
            if isinstance(value, str) and not _url_ok(value):
                return Refusal(at, f"the {attr} {value[:40]!r} is not an http, https or mailto URL")
        if tok.type == "inline" and tok.content:
            # a link whose destination markdown-it refused stays text: look for it
            for m in re.finditer(r"\]\(\s*<?([^)\s>]+)", tok.content):
                if not _url_ok(unescape(m.group(1))):
                    return Refusal(
                        at, f"the link {m.group(1)[:40]!r} is not an http, https or mailto URL"
                    )
        if tok.children:
            found = _walk(tok.children, at)
            if found is not None:
                return found
    return None


def check(markdown: str) -> None:
    """MarkdownRefused naming the first line with raw HTML or an unsafe URL."""
    found = _walk(_strict.parse(markdown), 1)
    if found is not None:
        raise MarkdownRefused(found)


def sanitise(html: str) -> str:
    """Only :data:`TAGS` with :data:`ATTRIBUTES` and :data:`URL_SCHEMES` survive; script,
    style, svg, math and the like go with their content."""
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        clean_content_tags={
            "script",
            "style",
            "svg",
            "math",
            "iframe",
            "object",
            "embed",
            "template",
            "noscript",
            "textarea",
            "title",
        },
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render(markdown: str, *, allow_html: bool = False) -> str:
    """Markdown as sanitised HTML. ``allow_html``: let markdown-it pass raw HTML to the
    sanitiser (only for tests of the sanitiser; the CMS never does)."""
    engine = _strict if allow_html else _safe
    return sanitise(engine.render(markdown))
