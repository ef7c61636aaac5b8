"""``/api/v1/services/stations`` (stations:read / stations:write), the public map data
``/api/v1/public/stations`` and the H5 page ``/h5/stations`` (public, rate-limited,
ETag; no personal data).

Reads: county roles their county (the prefecture: all); a station operator only the
stations its organisation operates. Writes: ``stations:write`` (county and prefecture
admins) in their county.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.commerce.indicators import check_period, month_index, month_of
from cloud.deps import DatabaseDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.services.stations import service
from cloud.services.stations.maps import stations_map
from cloud.services.stations.schemas import (
    Month,
    PerformanceRow,
    ShopsIn,
    StationIn,
    StationOut,
    StationPatch,
    Status,
    StatusIn,
    Tier,
)
from cloud.services.stations.storage import SERVICES, TIERS, StationInfo
from cloud.web.etag import etag, fresh, public_headers, served_json
from cloud.web.ratelimit import rate_limit
from cloud.web.shell import environment, page_context
from protocol.ids import COUNTIES, COUNTY_CODES

HERE = Path(__file__).resolve().parent
router = APIRouter(prefix="/services/stations", tags=["services: stations"],
                   responses=responses(401, 403, 404, 409, 422))  # fmt: skip
public = APIRouter(prefix="/public/stations", tags=["public"])
pages = APIRouter(tags=["h5"], include_in_schema=False)  # an HTML page, not API
PUBLIC = [require("public"), Depends(rate_limit)]

Read = Annotated[Principal, require("stations:read")]
Write = Annotated[Principal, require("stations:write")]
Ident = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]
STATUS_ZH = {"building": "建设中", "open": "运营中", "suspended": "暂停", "closed": "关闭"}


@router.get("", summary="Stations with their public-service attributes, by location id")
async def list_stations(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    tier: Tier | None = None,
    status: Status | None = None,
) -> list[StationOut]:
    q = service.stations_query(principal, principal.counties(county), tier, status)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(StationInfo.location_id, kind=int),), page)
        out = await service.station_out(s, list(got.rows))
    link_next(request, response, got.next_cursor)
    return out


@router.post("", status_code=201, summary="Give a catalog station its public-service "
             "attributes (location, 统计用区划代码, operator, hours, services); status building")  # fmt: skip
async def create_station(body: StationIn, principal: Write, db: DatabaseDep) -> StationOut:
    async with db.transaction() as s:
        st = await service.create_station(s, body, principal)
        return (await service.station_out(s, [st]))[0]


@router.get("/{location_id}", summary="One station")
async def get_station(location_id: Ident, principal: Read, db: DatabaseDep) -> StationOut:
    async with db.session() as s:
        st = await service.get_station(s, location_id, principal)
        return (await service.station_out(s, [st]))[0]


@router.patch("/{location_id}", summary="Change a station's attributes")
async def patch_station(
    location_id: Ident, body: StationPatch, principal: Write, db: DatabaseDep
) -> StationOut:
    async with db.transaction() as s:
        st = await service.writable(s, location_id, principal)
        await service.update_station(s, st, body, principal)
        return (await service.station_out(s, [st]))[0]


@router.post("/{location_id}/status", summary="Move a station's status: building → open ⇄ "
             "suspended → closed (a reason for suspended and closed)")  # fmt: skip
async def station_status(
    location_id: Ident, body: StatusIn, principal: Write, db: DatabaseDep
) -> StationOut:
    async with db.transaction() as s:
        st = await service.writable(s, location_id, principal)
        await service.change_status(s, st, body, principal)
        return (await service.station_out(s, [st]))[0]


@router.put("/{location_id}/shops", summary="The shops whose orders count as the station's")
async def station_shops(
    location_id: Ident, body: ShopsIn, principal: Write, db: DatabaseDep
) -> StationOut:
    async with db.transaction() as s:
        st = await service.writable(s, location_id, principal)
        await service.set_shops(s, st, body.shop_ids, principal)
        return (await service.station_out(s, [st]))[0]


@router.get("/{location_id}/performance", summary="Monthly orders, parcels, sales of its "
            "shops, households served and reported offline sales")  # fmt: skip
async def station_performance(
    location_id: Ident,
    principal: Read,
    db: DatabaseDep,
    start_month: Month,
    end_month: Month,
) -> list[PerformanceRow]:
    n = check_period(start_month, end_month)
    if n > 24:
        raise ApiError(422, "query.end_month: at most 24 months", field="query.end_month")
    months = [month_of(month_index(start_month) + i) for i in range(n)]
    async with db.session() as s:
        st = await service.get_station(s, location_id, principal)
        return await service.performance(s, st, months)


# ------------------------------------------------------------------ public


def _county(county: str | None) -> str | None:
    if county is not None and county not in COUNTY_CODES:
        raise ApiError(422, f"unknown county code {county!r}; use one of "
                       f"{', '.join(COUNTY_CODES)}", field="query.county")  # fmt: skip
    return county


@public.get("", dependencies=PUBLIC, summary="Every station not closed, for maps "
            "(WGS-84; no personal data; ETag, cached 60 s)")  # fmt: skip
async def public_stations(request: Request, db: DatabaseDep, county: CountyQ = None) -> Response:
    c = _county(county)

    async def make() -> dict[str, Any]:
        async with db.session() as s:
            return {"stations": await service.public_stations(s, c), "crs": "WGS-84"}

    # the body kept until a write in this process (or 10 s: cloud.web.etag)
    return await served_json(request, make, max_age=60)


@pages.get("/h5/stations", dependencies=PUBLIC, response_class=HTMLResponse,
           summary="The stations map (H5, Chinese first)")  # fmt: skip
async def stations_page(
    request: Request, db: DatabaseDep, settings: SettingsDep, county: CountyQ = None
) -> Response:
    async with db.session() as s:
        data = await service.public_stations(s, _county(county))
    counts = {t: sum(1 for x in data if x["tier"] == t) for t in TIERS}
    html = (
        environment(HERE / "templates")
        .get_template("stations.html")
        .render(
            page_context(
                settings,
                stations=data,
                m=stations_map(data, COUNTY_CODES),
                counts=counts,
                tiers=TIERS,
                services=SERVICES,
                status_zh=STATUS_ZH,
                counties=COUNTIES,
            )
        )
        .encode()
    )
    tag = etag(html)
    headers = public_headers(60)
    return fresh(request, tag, headers) or HTMLResponse(html, headers={**headers, "ETag": tag})


def install(app: FastAPI) -> None:
    app.include_router(pages)
