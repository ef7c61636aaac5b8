"""The public H5 site's routes (all public, rate-limited per client address with the
resolver's buckets, no personal data):

- ``GET /h5/``: the home page (Chinese first, English toggle), over
  ``GET /api/v1/public/home``: headline figures and the sections.
- ``GET /h5/trace[?code=]``: the trace lookup; a good code is a 303 to the resolver's
  trace page, a bad one the page again with its reason; over
  ``GET /api/v1/public/lookup?code=``.
- ``/static/h5/``: the site's stylesheet and the lookup's scan script.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment

from cloud.auth.deps import require
from cloud.deps import DatabaseDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.services.h5.lookup import MAX_CODE, CodeError, Found, lookup
from cloud.services.h5.service import CACHE_S, HomeCache, compute
from cloud.web.etag import Kept, answer, cached_json, etag, fresh
from cloud.web.ratelimit import rate_limit
from cloud.web.shell import environment, page_context

HERE = Path(__file__).resolve().parent
STATIC_URL = "/static/h5"
PUBLIC = [require("public"), Depends(rate_limit)]
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Cache-Control": f"public, max-age={int(CACHE_S)}",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
}
Code = Annotated[
    str | None,
    Query(max_length=MAX_CODE, description="a lot code, GS1 Digital Link or element string"),
]

#: JSON under /api/v1 (the app adds the prefix); pages at the root
api = APIRouter(prefix="/public", tags=["public H5"], responses=responses(404, 422, 429))
pages = APIRouter(tags=["public H5"], include_in_schema=False)  # HTML pages, not API


def money(value: object) -> str:
    """Yuan as the page shows it: thousands separated, 万 past ten thousand."""
    v = Decimal(str(value))
    if v >= 10_000:
        return f"{(v / 10_000).quantize(Decimal('0.01'))}万"
    return f"{v:,.2f}"


def pct(value: object) -> str:
    """A ratio (0.1234) as a signed percent (+12.3%)."""
    return f"{Decimal(str(value)) * 100:+.1f}%"


@cache
def _env() -> Environment:
    env = environment(HERE / "templates")
    env.filters["money"] = money
    env.filters["pct"] = pct
    return env


def _mounted(request: Request) -> set[str]:
    """Every path the app serves (a section's page counts once it is mounted)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested included routers: app.routes is flat
        return {getattr(r, "path", "") for r in request.app.routes}
    return {getattr(c, "path", "") for c in iter_route_contexts(request.app.routes)}


async def home_data(request: Request) -> dict[str, Any]:
    state = request.app.state
    cached: HomeCache | None = getattr(state, "h5_home", None)
    if cached is None:
        cached = state.h5_home = HomeCache()
    return await cached.get(lambda: compute(state.db, _mounted(request)))


@api.get(
    "/home",
    dependencies=PUBLIC,
    summary="The H5 home page's data: headline public figures (last complete month, all "
    "counties), each county's online retail sales, the site's sections (未接入 until "
    "their source lands)",
)
async def public_home(request: Request) -> Response:
    data = await home_data(request)
    # serialised and tagged once per computed answer (once a minute), not per request
    state = request.app.state
    kept: tuple[dict[str, Any], Kept] | None = getattr(state, "h5_home_body", None)
    if kept is None or kept[0] is not data:
        body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        kept = state.h5_home_body = (data, Kept(body, etag(body), 0, 0.0, None))
    return answer(request, kept[1], int(CACHE_S))


def _found_json(found: Found, base: str) -> dict[str, Any]:
    return {
        "gtin": found.gtin,
        "lot": found.lot,
        "serial": found.serial,
        "path": found.path,
        "url": base + found.path if found.path else None,
        "choices": [
            {
                "gtin": c.gtin,
                "lot": c.lot,
                "product": c.product,
                "path": c.path,
                "url": base + c.path,
            }
            for c in found.choices
        ],
    }


@api.get(
    "/lookup",
    dependencies=PUBLIC,
    summary="Where a lot code, GS1 Digital Link or element string leads: the resolver's "
    "trace page (or the products sharing a lot number); 422/404 with the reason",
)
async def public_lookup(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    code: Annotated[str, Query(max_length=MAX_CODE)],
) -> Response:
    async with db.session() as s:
        try:
            found = await lookup(s, code)
        except CodeError as exc:
            raise ApiError(
                exc.status, f"query.code: {exc.zh} / {exc.en}", field="query.code"
            ) from None
    return cached_json(request, _found_json(found, settings.public_base_url))


def _html(request: Request, body: str, status: int = 200) -> Response:
    if status == 200:
        tag = etag(body.encode())
        hit = fresh(request, tag, PAGE_HEADERS)
        if hit is not None:
            return hit
        return HTMLResponse(body, headers={**PAGE_HEADERS, "ETag": tag})
    return HTMLResponse(
        body, status_code=status, headers={**PAGE_HEADERS, "Cache-Control": "no-store"}
    )


@pages.get("/h5/", dependencies=PUBLIC, summary="The public H5 site's home page",
           response_class=HTMLResponse)  # fmt: skip
async def h5_home(request: Request, settings: SettingsDep) -> Response:
    data = await home_data(request)
    body = (
        _env()
        .get_template("home.html")
        .render(page_context(settings, d=data, static=STATIC_URL, here="home"))
    )
    return _html(request, body)


@pages.get("/h5/trace", dependencies=PUBLIC, response_class=HTMLResponse,
           summary="The trace lookup: enter or scan a code; 303 to its trace page")  # fmt: skip
async def h5_trace(
    request: Request, db: DatabaseDep, settings: SettingsDep, code: Code = None
) -> Response:
    error: CodeError | None = None
    found: Found | None = None
    if code is not None:
        async with db.session() as s:
            try:
                found = await lookup(s, code)
            except CodeError as exc:
                error = exc
        if found is not None and found.path:
            return RedirectResponse(
                found.path, status_code=303, headers={"Cache-Control": "no-store"}
            )
    body = (
        _env()
        .get_template("trace.html")
        .render(
            page_context(
                settings, code=code or "", error=error, found=found, static=STATIC_URL, here="trace"
            )
        )
    )
    return _html(request, body, error.status if error else 200)


def install(app: FastAPI) -> None:
    """Mount the pages and the site's static files (the JSON router is included under
    /api/v1 with the others)."""
    app.include_router(pages)
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="h5-static")
