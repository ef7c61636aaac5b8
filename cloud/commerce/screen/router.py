"""The built-in wall screen's routes (Datasette style: JSON endpoints + a thin page).

- ``GET /screen``, ``GET /screen/{county}`` (public shells, no data): the 1920x1080
  wall. The page reads the JSON below with a display key (``#key=...`` in the URL: a
  fragment never reaches a server or its logs; kept in ``localStorage``) or a login's
  token (``dh.token``, shared with the other pages), and polls it.
- ``GET /api/v1/screen/data?county=`` (``screen:read``): every panel of the wall.
- ``GET /api/v1/screen/panels/{panel_id}?county=`` (``screen:read``): one panel (the
  county Grafana orgs read these through the Infinity data source).

County scope: a county's key or user reads its own county; asking for another county
is 403 (as every ``?county=`` of the API); the prefecture reads all, or one county
with ``county=``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.commerce.screen.catalogue import BY_ID, SCREEN_PANELS
from cloud.commerce.screen.runner import Context, run_panels
from cloud.deps import SettingsDep
from cloud.errors import ApiError, responses
from cloud.logistics.console.tiles import tile_source
from cloud.web.shell import environment, page_context
from protocol.ids import COUNTIES, COUNTY_CODES

HERE = FsPath(__file__).resolve().parent
STATIC_URL = "/static/screen"
CONSOLE_STATIC = "/static/console"
#: the wall polls this often (s)
POLL_S = 15

router = APIRouter(prefix="/screen", tags=["wall screen"])
pages = APIRouter(include_in_schema=False)
ScreenRead = Annotated[Principal, require("screen:read")]
CountyQuery = Annotated[
    str | None,
    Query(pattern=r"^\d{6}$", description="one county (GB/T 2260); default: the caller's"),
]


def _scope(principal: Principal, county: str | None) -> list[str] | None:
    """The counties the request reads, as every list of the API: an unknown code is
    422, a county the caller cannot see 403 (a county key never reads another)."""
    return principal.counties(county)


#: Walls showing the same county see the same answer: it is computed once per this
#: many seconds (a wall polls every 15 s; the data's own time says how fresh it is)
CACHE_S = 5.0


async def _data(request: Request, counties: list[str] | None, ids: list[str]) -> dict[str, Any]:
    """The panels, computed at most once per ``CACHE_S`` for each (counties, panels):
    twenty walls cost one computation. When the last answer is older, one request
    starts the next computation and every wall keeps the last answer until it is done
    (each panel's ``newest_ms`` says how fresh its data is); the first waits."""
    state = request.app.state
    if not hasattr(state, "screen_cache"):
        state.screen_cache = {}
    cache: dict[tuple[Any, ...], _Entry] = state.screen_cache
    key = (tuple(counties) if counties is not None else None, tuple(ids))
    now = time.monotonic()
    entry = cache.setdefault(key, _Entry())
    if entry.task is None or (entry.task.done() and now - entry.started > CACHE_S):
        if entry.task is not None and entry.task.done() and not entry.task.exception():
            entry.last = entry.task.result()
        entry.started = now
        entry.task = asyncio.ensure_future(_compute(request, counties, ids))
    if entry.last is not None and not entry.task.done():
        return entry.last
    return await asyncio.shield(entry.task)


@dataclass
class _Entry:
    started: float = 0.0
    task: asyncio.Future[dict[str, Any]] | None = None
    #: the last answer, served while the next is computed
    last: dict[str, Any] | None = None


async def _compute(request: Request, counties: list[str] | None, ids: list[str]) -> dict[str, Any]:
    """One computation with its own session (it may outlive the request that began it)."""
    started = time.perf_counter()
    async with request.app.state.db.session() as session:
        # one session: relational panels side by side (Context.sessions) measured no
        # faster on the bench's wall, whose InfluxDB reads are its critical path
        # (docs/benchmarks.md, "The wall's data side by side")
        ctx = Context(session=session, store=request.app.state.tsdb, counties=counties)
        panels = await run_panels(ids, ctx)
    return {
        "generated_at_ms": ctx.now_ms,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
        "counties": counties if counties is not None else list(COUNTY_CODES),
        "county_names": {c: {"zh": COUNTIES[c][1], "en": COUNTIES[c][0]} for c in COUNTY_CODES},
        "poll_s": POLL_S,
        "panels": [p.as_json() for p in panels],
    }


@router.get(
    "/data",
    summary="Every panel of the wall (county-scoped)",
    responses=responses(401, 403),
)
async def screen_data(
    request: Request, principal: ScreenRead, county: CountyQuery = None
) -> JSONResponse:
    counties = _scope(principal, county)
    body = await _data(request, counties, list(SCREEN_PANELS))
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get(
    "/panels/{panel_id}",
    summary="One panel of the catalogue (county-scoped)",
    responses=responses(401, 403, 404),
)
async def screen_panel(
    request: Request,
    principal: ScreenRead,
    panel_id: Annotated[str, Path(max_length=64)],
    county: CountyQuery = None,
) -> JSONResponse:
    if panel_id not in BY_ID:
        raise ApiError(404, f"path.panel_id: no panel {panel_id!r}", field="panel_id")
    counties = _scope(principal, county)
    body = await _data(request, counties, [panel_id])
    panel = body["panels"][0]
    return JSONResponse(
        {**panel, "generated_at_ms": body["generated_at_ms"], "counties": body["counties"]},
        headers={"Cache-Control": "no-store"},
    )


def csp(settings: Any) -> str:
    tiles = " ".join(tile_source(settings).origins)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {tiles}".rstrip()
        + "; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
    )


def _page(settings: Any, county: str | None) -> HTMLResponse:
    env = environment(HERE / "templates")
    tiles = tile_source(settings)
    html = env.get_template("screen.html").render(
        page_context(
            settings,
            static=STATIC_URL,
            console_static=CONSOLE_STATIC,
            api="/api/v1/screen",
            county=county or "",
            # (zh, en); protocol.ids keeps (en, zh)
            county_name=(COUNTIES[county][1], COUNTIES[county][0]) if county else None,
            tiles_url=tiles.url,
            tiles_gcj02="true" if tiles.gcj02 else "false",
            tiles_subdomains=tiles.subdomains,
            tiles_attribution=tiles.attribution,
            poll_s=POLL_S,
        )
    )
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": csp(settings),
            "Referrer-Policy": "no-referrer",
        },
    )


@pages.get("/screen", dependencies=[require("public")])
async def screen_page(settings: SettingsDep) -> HTMLResponse:
    """The prefecture wall (public shell: it holds no data; its reads need a key)."""
    return _page(settings, None)


@pages.get("/screen/{county}", dependencies=[require("public")])
async def county_screen_page(
    settings: SettingsDep, county: Annotated[str, Path(pattern=r"^\d{6}$")]
) -> HTMLResponse:
    """A county's wall (public shell; the data endpoint enforces the county)."""
    if county not in COUNTY_CODES:
        raise ApiError(404, f"path.county: no county {county}", field="county")
    return _page(settings, county)


def install(app: FastAPI) -> None:
    """The JSON under /api/v1, the pages and their static files."""
    app.include_router(router, prefix="/api/v1", responses=responses(422))
    app.include_router(pages)
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="screen-static")
