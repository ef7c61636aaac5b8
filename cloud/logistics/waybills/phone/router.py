"""The driver's phone page (issue 13): ``GET /m/driver`` serves the page, ``GET
/m/driver/sw.js`` its service worker, ``/m/driver/static/`` its assets.

The page is a thin client over the JSON API, built the way the trace data-entry page
(``/m/trace``, cloud/trace/phone) is, and reusing its outbox (``queue.js``, configured
with its own IndexedDB and URLs) and its stylesheet: it logs in with ``POST
/api/v1/auth/token``, caches the driver's trips (``GET /api/v1/logistics/trips``),
queues each action (loading, departure, arrival, delivery with its proof) in IndexedDB
with a ``request_id`` and time made on the phone, and posts it when the signal returns
(``?source=phone``); the server does each request id once. Nothing here reads the
database.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from cloud.auth.deps import require
from cloud.trace.phone.router import CSP
from cloud.trace.phone.router import STATIC as TRACE_STATIC

PAGE = "/m/driver"
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
ASSETS = ("app.js", "i18n.js", "sign.js", "driver.css", "manifest.webmanifest")
#: The trace page's assets this page reuses (served from /m/trace/static).
SHARED = ("queue.js", "style.css", "icon.svg")

router = APIRouter(include_in_schema=False)


@cache
def shell_version() -> str:
    digest = hashlib.sha256((HERE / "index.html").read_bytes())
    for name in (*ASSETS, "sw.js"):
        digest.update(name.encode())
        digest.update((STATIC / name).read_bytes())
    for name in SHARED:
        digest.update((TRACE_STATIC / name).read_bytes())
    return digest.hexdigest()[:16]


@router.get(PAGE, dependencies=[require("public")])
async def driver_page() -> HTMLResponse:
    """The page (public: it holds no data; its API calls need a driver's login)."""
    html = (HERE / "index.html").read_text(encoding="utf-8").replace("{{VERSION}}", shell_version())
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CSP,
        },
    )


@router.get(f"{PAGE}/sw.js", dependencies=[require("public")])
async def driver_service_worker() -> Response:
    assets = (
        [PAGE]
        + [f"{PAGE}/static/{name}" for name in ASSETS]
        + [f"/m/trace/static/{name}" for name in SHARED]
    )
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
    """Serve the driver's page and its assets from ``app`` (outside ``/api/v1``)."""
    app.include_router(router)
    app.mount(f"{PAGE}/static", StaticFiles(directory=STATIC), name="driver-static")
