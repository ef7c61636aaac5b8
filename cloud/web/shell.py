"""The shared page shell (floor 2): a Jinja2 environment with the base template, the
bilingual text helper and the footer, and the shell's static files.

Each domain keeps its own pages and assets in its package; it makes its environment
with :func:`environment` (its template folder first, the shell's after, so its pages
``{% extends "base.html" %}``) and renders with :func:`page_context` for the footer.

Language: Chinese first. Every text is written in both languages with :func:`t`
(``<span class="zh">…</span><span class="en" lang="en">…</span>``); the stylesheet shows
one of them from ``<html data-lang>``, and ``lang.js`` switches it (kept in
``localStorage``; ``?lang=en`` also sets it). The page never fetches a translation.
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: Where the shell's assets are served (``base.css``, ``lang.js``)
STATIC_URL = "/static/web"


class SiteSettings(Protocol):
    site_operator: str
    site_icp: str


def t(zh: object, en: object | None = None) -> Markup:
    """One text in both languages (escaped); ``en`` None: the Chinese in both."""
    zh_text = escape(str(zh))
    en_text = escape(str(zh if en is None else en))
    return Markup(f'<span class="zh">{zh_text}</span><span class="en" lang="en">{en_text}</span>')


@cache
def environment(*template_dirs: Path) -> Environment:
    """A Jinja2 environment over the domain's template folders, then the shell's."""
    env = Environment(
        loader=FileSystemLoader([*map(str, template_dirs), str(TEMPLATES)]),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["t"] = t
    env.globals["shell_static"] = STATIC_URL
    return env


def page_context(settings: SiteSettings, **context: Any) -> dict[str, Any]:
    """The context every page of the shell needs (the footer's operator and ICP 备案)."""
    return {"site_operator": settings.site_operator, "site_icp": settings.site_icp, **context}


def install(app: FastAPI) -> None:
    """Serve the shell's static files (public: they hold no data)."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="web-static")
