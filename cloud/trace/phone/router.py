"""The phone page for recording trace steps where the work happens (issue 11).

``GET /m/trace`` serves the page, ``GET /m/trace/sw.js`` its service worker (the page
shell cached for offline use), ``/m/trace/static/`` its assets (vanilla JS modules, no
build step). The page is a thin client over the JSON API: it logs in with
``POST /api/v1/auth/token``, caches ``/api/v1/locations``, ``/api/v1/trace/lots`` and
``/api/v1/products`` for offline pickers, queues each recorded step in IndexedDB with an
``urn:uuid:`` eventID made on the phone and posts it to ``/api/v1/trace/ops/{step}``
when the signal returns. Nothing here reads or writes the database.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from cloud.auth.deps import require

PAGE = "/m/trace"
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
#: What the service worker caches: the page and every asset it may need offline.
SHELL_ASSETS = (
    "app.js",
    "forms.js",
    "gs1.js",
    "i18n.js",
    "queue.js",
    "scan.js",
    "style.css",
    "icon.svg",
    "manifest.webmanifest",
    "vendor/jsQR.js",
)

#: Only our own scripts, styles and API (the bearer token lives in localStorage); the
#: camera's stream plays from a blob/mediastream.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; worker-src 'self'; "
    "manifest-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@cache
def shell_version() -> str:
    """A digest of the page and its assets: the service worker's cache name changes
    (and the phone fetches the shell anew) exactly when one of them does."""
    digest = hashlib.sha256((HERE / "index.html").read_bytes())
    for name in (*SHELL_ASSETS, "sw.js"):
        digest.update(name.encode())
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:16]


def _page() -> str:
    return (HERE / "index.html").read_text(encoding="utf-8").replace("{{VERSION}}", shell_version())


@router.get(PAGE, dependencies=[require("public")])
async def phone_page() -> HTMLResponse:
    """The page (public: it holds no data; the API calls it makes need a login)."""
    return HTMLResponse(
        _page(),
        headers={
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CSP,
        },
    )


@router.get(f"{PAGE}/sw.js", dependencies=[require("public")])
async def phone_service_worker() -> Response:
    """The service worker, with the shell's version and asset list filled in; allowed
    the scope ``/m/trace`` so that it also serves the page itself offline."""
    assets = [PAGE] + [f"{PAGE}/static/{name}" for name in SHELL_ASSETS]
    body = (
        (STATIC / "sw.js")
        .read_text(encoding="utf-8")
        .replace("__VERSION__", shell_version())
        .replace('"__SHELL__"', ", ".join(f'"{a}"' for a in assets))
    )
    return Response(
        body,
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": PAGE, "Cache-Control": "no-cache"},
    )


def install(app: FastAPI) -> None:
    """Serve the phone page and its assets from ``app`` (outside ``/api/v1``)."""
    app.include_router(router)
    app.mount(f"{PAGE}/static", StaticFiles(directory=STATIC), name="phone-static")
