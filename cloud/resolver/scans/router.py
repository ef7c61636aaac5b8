"""Scans: the public endpoint that adds a shared place to one's own scan, and the
operators' flags.

``POST /public/scans/{token}/place`` is public and rate-limited per client address
(the resolver's limiter, cloud/web/ratelimit.py: one budget with the resolver's
routes). The token is the ``scan_id`` the page got from ``record_scan`` for this very
scan; it changes that scan only, once, within ``scan_place_window_s`` of it, and
keeps only the city.

``GET /trace/scan-flags`` and ``/trace/scan-flags/counts`` need ``trace:read`` and
cover the counties one can see (``?county=`` narrows, 403 outside them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gtin
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.resolver.scans import service
from cloud.resolver.scans.schemas import (
    FlagCounts,
    FlagKind,
    FlagOut,
    FlagPage,
    PlaceIn,
    PlaceOut,
)
from cloud.resolver.scans.storage import ScanFlag
from cloud.trace.lots.schemas import check_lot_number
from cloud.web.ratelimit import rate_limit

router = APIRouter(tags=["resolver: scans"])

TraceRead = Annotated[Principal, require("trace:read")]
CountyQuery = Annotated[
    str | None, Query(description="Only this county (GB/T 2260 code); must be one you can see")
]
FLAG_KEYS = (Key(ScanFlag.id, kind=int),)


def _checked(check: Callable[[str], str], value: str, field: str) -> str:
    try:
        return check(value)
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None


@router.post(
    "/public/scans/{token}/place",
    response_model=PlaceOut,
    dependencies=[require("public"), Depends(rate_limit)],
    summary="Add the place the browser shared to one's own scan (public; kept as the "
    "prefecture-level city only)",
    responses=responses(404, 409, 422, 429),
)
async def add_place(
    token: Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                               description="The scan's token (scan_id)")],
    body: PlaceIn,
    db: DatabaseDep,
) -> PlaceOut:  # fmt: skip
    try:
        async with db.transaction() as s:
            city = await service.add_place(s, token, body.lat, body.lon)
    except service.ScanError as exc:
        raise ApiError(exc.status, str(exc), field=exc.field) from None
    return PlaceOut(city=city.code, name=city.name)


@router.get(
    "/trace/scan-flags",
    response_model=FlagPage,
    summary="Scan anomalies of the counties you can see, oldest first (keyset pages: "
    "Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_flags(
    principal: TraceRead, session: SessionDep, request: Request, response: Response,
    page: PageDep, county: CountyQuery = None,
    kind: Annotated[FlagKind | None, Query(description="Only this kind")] = None,
    gtin: Annotated[str | None, Query(description="Only flags of this GTIN")] = None,
    lot: Annotated[str | None, Query(description="Only flags of lots with this number")] = None,
) -> FlagPage:  # fmt: skip
    q = service.flags_query(
        principal.counties(county),
        kind=kind,
        gtin=None if gtin is None else _checked(check_gtin, gtin, "query.gtin"),
        lot=None if lot is None else _checked(check_lot_number, lot, "query.lot"),
    )
    found = await fetch_page(session, q, FLAG_KEYS, page)
    link_next(request, response, found.next_cursor)
    keys = await service.lot_keys(session, [f.lot_id for f in found.rows])
    return FlagPage(
        items=[
            FlagOut(
                id=f.id,
                kind=f.kind,
                gtin=keys[f.lot_id][0],
                lot=keys[f.lot_id][1],
                serial=f.serial or None,
                county=f.county,
                hits=f.hits,
                first_at=f.first_at,
                last_at=f.last_at,
                detail=f.detail,
            )
            for f in found.rows
        ]
    )


@router.get(
    "/trace/scan-flags/counts",
    response_model=FlagCounts,
    summary="How many scan anomalies, by kind (the big screen's figure)",
    responses=responses(401, 403, 422),
)
async def flag_counts(
    principal: TraceRead, session: SessionDep, county: CountyQuery = None
) -> FlagCounts:
    by_kind = await service.count_flags(session, principal.counties(county))
    return FlagCounts(total=sum(by_kind.values()), by_kind=by_kind)
