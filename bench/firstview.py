"""Bytes a browser transfers for a page's first view, counted the way a browser loads
it (used by ``dehong bench trace-page``): the HTML, then every asset it references on
the same origin, each fetched once with ``Accept-Encoding: gzip, deflate, br`` (so a
server that compresses is counted compressed), recursively:

- HTML: ``<link rel=stylesheet|icon|preload|modulepreload|manifest href>``,
  ``<script src>``, ``<img src>`` (``loading=lazy`` images are marked ``lazy``: not
  loaded until scrolled to, but counted in the worst case);
- CSS: ``url(...)`` and ``@import``;
- JavaScript modules: static ``import``/``export ... from`` (loaded at once) and
  dynamic ``import("...")`` (marked ``dynamic``: loaded only when the code runs that
  branch, e.g. a crypto fallback).

Each resource costs its response's status line and headers plus its body as it came
over the wire (``Content-Encoding`` kept): what Chromium reports as
``encodedDataLength``. Request headers are not counted (upstream). A reference off the
page's origin is listed in ``external`` and not fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx

ACCEPT_ENCODING = "gzip, deflate, br"
#: resource kinds -> how their references are found
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
_JS_STATIC = re.compile(
    r"""(?:^|[;\n}])\s*(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?['"]([^'"]+)['"]""",
    re.M,
)
_JS_DYNAMIC = re.compile(r"""\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)""")
_JS_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_JS_LINE_COMMENT = re.compile(r"^\s*//.*$", re.M)


def _loadable(specifier: str) -> bool:
    """A module specifier a browser loads without an import map (relative or a URL);
    a bare one (``@noble/ed25519``) is not."""
    return specifier.startswith(("./", "../", "/")) or "://" in specifier


@dataclass
class Ref:
    url: str
    kind: str  # html, css, js, img, other
    lazy: bool = False
    dynamic: bool = False


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, bool]] = []  # (url, kind, lazy)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "link" and a.get("href"):
            rel = set(a.get("rel", "").lower().split())
            if "stylesheet" in rel:
                self.refs.append((a["href"], "css", False))
            elif rel & {"icon", "preload", "manifest", "apple-touch-icon"}:
                self.refs.append((a["href"], "other", False))
            elif "modulepreload" in rel:
                self.refs.append((a["href"], "js", False))
        elif tag == "script" and a.get("src"):
            self.refs.append((a["src"], "js", False))
        elif tag in ("img", "source") and (a.get("src") or a.get("srcset")):
            src = a.get("src") or a["srcset"].split(",")[0].split()[0]
            self.refs.append((src, "img", a.get("loading", "").lower() == "lazy"))


def references(kind: str, text: str) -> list[tuple[str, str, bool, bool]]:
    """(url, kind, lazy, dynamic) referenced by a resource's text."""
    if kind == "html":
        parser = _Html()
        parser.feed(text)
        return [(u, k, lazy, False) for u, k, lazy in parser.refs]
    if kind == "css":
        out = []
        for m in _CSS_URL.finditer(text):
            u = m.group(1) or m.group(2)
            if not u.startswith("data:"):
                out.append((u, "css" if m.group(2) else "other", False, False))
        return out
    if kind == "js":
        code = _JS_LINE_COMMENT.sub("", _JS_BLOCK_COMMENT.sub("", text))
        static = [(u, "js", False, False) for u in _JS_STATIC.findall(code) if _loadable(u)]
        dynamic = [(u, "js", False, True) for u in _JS_DYNAMIC.findall(code) if _loadable(u)]
        return static + dynamic
    return []


def header_bytes(r: httpx.Response) -> int:
    """The status line and headers as sent on HTTP/1.1."""
    status = len(f"HTTP/1.1 {r.status_code} {r.reason_phrase}\r\n".encode())
    return status + sum(len(k) + len(v) + 4 for k, v in r.headers.raw) + 2


def _same_origin(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.netloc) == (y.scheme, y.netloc)


@dataclass
class FirstView:
    url: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def total(self, *, lazy: bool = True, dynamic: bool = True) -> int:
        return sum(
            r["bytes"]
            for r in self.resources
            if (lazy or not r["lazy"]) and (dynamic or not r["dynamic"])
        )

    def summary(self) -> dict[str, Any]:
        encodings = sorted({r["encoding"] or "identity" for r in self.resources})
        return {
            "bytes_all": self.total(),
            "bytes_without_lazy_or_dynamic": self.total(lazy=False, dynamic=False),
            "resources": len(self.resources),
            "html_bytes": self.resources[0]["bytes"] if self.resources else 0,
            "encodings": encodings,
            "external": self.external,
            "failed": self.failed,
            "by_resource": {
                urlsplit(r["url"]).path: r["bytes"]
                for r in sorted(self.resources, key=lambda r: -r["bytes"])
            },
        }


async def first_view(
    url: str, *, headers: dict[str, str] | None = None, client: httpx.AsyncClient | None = None
) -> FirstView:
    """Fetch ``url`` (as HTML) and everything it loads; see the module's docstring."""
    own = client is None
    c = client or httpx.AsyncClient(timeout=30)
    base_headers = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
    out = FirstView(url)
    seen: set[str] = set()
    queue: list[Ref] = [Ref(url, "html")]
    try:
        while queue:
            ref = queue.pop(0)
            if ref.url in seen:
                continue
            seen.add(ref.url)
            accept = "text/html" if ref.kind == "html" else "*/*"
            r = await c.get(ref.url, headers={**base_headers, "Accept": accept})
            body = await r.aread()
            wire = r.num_bytes_downloaded
            out.resources.append(
                {
                    "url": ref.url,
                    "kind": ref.kind,
                    "status": r.status_code,
                    "encoding": r.headers.get("content-encoding"),
                    "bytes": header_bytes(r) + wire,
                    "body_decoded": len(body),
                    "lazy": ref.lazy,
                    "dynamic": ref.dynamic,
                }
            )
            if r.status_code != 200:
                out.failed.append(f"{ref.url}: {r.status_code}")
                continue
            if ref.kind not in ("html", "css", "js"):
                continue
            for u, kind, lazy, dynamic in references(ref.kind, r.text):
                target = urldefrag(urljoin(ref.url, u)).url
                if not _same_origin(target, url):
                    out.external.append(target)
                    continue
                queue.append(Ref(target, kind, lazy or ref.lazy, dynamic or ref.dynamic))
    finally:
        if own:
            await c.aclose()
    return out
