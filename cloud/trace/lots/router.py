"""``/api/v1/trace/lots``: register lots, read one, list them; county-scoped.

Permissions (docs/roles.md): ``trace:read`` reads the lots of one's county (the
prefecture every county's); another county's lot is 404. ``trace:write`` registers a
lot: admins for any organisation of their county, organisation roles only for their
own organisation. Lists page by the one convention (``cloud/pagination.py``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gtin
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.lots import service
from cloud.trace.lots.schemas import LotCreate, LotOut, LotPage, LotRef, check_lot_number
from cloud.trace.lots.storage import TraceLot

router = APIRouter(tags=["trace: lots"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]
CountyQuery = Annotated[
    str | None, Query(description="Only this county (GB/T 2260 code); must be one you can see")
]

#: Keyset order (cloud/pagination.py): registration order.
LOT_KEYS = (Key(TraceLot.id, kind=int),)


def _gtin(value: str, field: str) -> str:
    try:
        return check_gtin(value)
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None


def _lot_number(value: str, field: str) -> str:
    try:
        return check_lot_number(value)
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None


def lot_out(lot: TraceLot, parents: list[tuple[str, str]]) -> LotOut:
    return LotOut(
        id=lot.id,
        gtin=lot.gtin,
        lot=lot.lot,
        county=lot.county,
        org_id=lot.org_id,
        product_id=lot.product_id,
        quantity=None if lot.quantity is None else Decimal(format(lot.quantity.normalize(), "f")),
        unit=lot.unit,
        origin_base_id=lot.origin_base_id,
        produced_on=lot.produced_on,
        created_at=lot.created_at,
        parents=[LotRef(gtin=g, lot=n) for g, n in parents],
        uri=dl_uri(lot.gtin, lot.lot),
    )


@router.post(
    "/trace/lots",
    response_model=LotOut,
    status_code=201,
    summary="Register a lot of an organisation (admins of its county; organisation roles "
    "for their own organisation)",
    responses=responses(401, 403, 404, 409, 422),
)
async def create_lot(body: LotCreate, principal: TraceWrite, db: DatabaseDep) -> LotOut:
    try:
        async with db.transaction() as s:
            lot = await service.create_lot(s, body, principal)
            parents = await service.parents_of(s, [lot.id])
            return lot_out(lot, parents[lot.id])
    except service.LotError as exc:
        raise ApiError(exc.status, str(exc), field=exc.field) from None


@router.get(
    "/trace/lots",
    response_model=LotPage,
    summary="Lots of the counties you can see, in registration order (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_lots(
    principal: TraceRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
    gtin: Annotated[str | None, Query(description="Only lots of this GTIN")] = None,
    lot: Annotated[str | None, Query(description="Only lots with this number")] = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> LotPage:
    q = service.lots_query(
        principal.counties(county),
        gtin=None if gtin is None else _gtin(gtin, "query.gtin"),
        lot=None if lot is None else _lot_number(lot, "query.lot"),
        org_id=org_id,
    )
    found = await fetch_page(session, q, LOT_KEYS, page)
    link_next(request, response, found.next_cursor)
    parents = await service.parents_of(session, [x.id for x in found.rows])
    return LotPage(items=[lot_out(x, parents[x.id]) for x in found.rows])


@router.get(
    "/trace/lots/{gtin}/{lot}",
    response_model=LotOut,
    summary="One lot, by GTIN and lot number (a lot number with '/' is found with "
    "GET /trace/lots?gtin=&lot=)",
    responses=responses(401, 404, 422),
)
async def get_lot(
    gtin: Annotated[str, Path(description="GTIN-8/12/13/14")],
    lot: Annotated[str, Path(description="Lot number (GS1 AI 10)")],
    principal: TraceRead,
    session: SessionDep,
) -> LotOut:
    key = (_gtin(gtin, "path.gtin"), _lot_number(lot, "path.lot"))
    found = await service.get_lot(session, *key, principal)
    if found is None:
        raise ApiError(404, f"lot {key[1]!r} of GTIN {key[0]} not found")
    parents = await service.parents_of(session, [found.id])
    return lot_out(found, parents[found.id])
