"""Serial ranges of a lot (operators): issue, list, and export a range's codes.

Permissions (docs/roles.md): ``trace:read`` lists a lot's ranges (county-scoped: another
county's lot is 404). ``trace:write`` issues a range and exports its codes (admins of
the lot's county; organisation roles for their own organisation's lots): an export
holds valid codes, so it is a writer's act, like printing the labels.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gtin
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.resolver.serials import service
from cloud.resolver.serials.keys import SerialKeyError, SerialKeySettings, load_key
from cloud.resolver.serials.schemas import RangeCreate, RangeOut, RangePage
from cloud.resolver.serials.storage import SerialRange
from cloud.trace.lots.schemas import check_lot_number
from cloud.trace.lots.storage import TraceLot

router = APIRouter(tags=["resolver: serials"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]
GtinPath = Annotated[str, Path(description="GTIN-8/12/13/14")]
LotPath = Annotated[str, Path(description="Lot number (GS1 AI 10)")]
RangeId = Annotated[int, Path(ge=1, le=MAX_INT32)]


def lot_key(gtin: str, lot: str) -> tuple[str, str]:
    """(GTIN-14, lot) from the path, or 422 naming the part."""
    try:
        g = check_gtin(gtin)
    except ValueError as exc:
        raise ApiError(422, f"path.gtin: {exc}", field="path.gtin") from None
    try:
        n = check_lot_number(lot)
    except ValueError as exc:
        raise ApiError(422, f"path.lot: {exc}", field="path.lot") from None
    return g, n


async def visible_lot(session: AsyncSession, gtin: str, lot: str, principal: Principal) -> TraceLot:
    """The lot of the path, or 404 when absent or of a county ``principal`` cannot see."""
    g, n = lot_key(gtin, lot)
    found = await service.lot_of(session, g, n)
    if found is None or not principal.can_see(found.county):
        raise ApiError(404, f"lot {n!r} of GTIN {g} not found")
    return found


def serial_key(settings: SerialKeySettings) -> bytes:
    """The codes' key, or 503 saying how to make it."""
    try:
        return load_key(settings)
    except SerialKeyError as exc:
        raise ApiError(503, str(exc)) from None


def range_out(rng: SerialRange, lot: TraceLot) -> RangeOut:
    return RangeOut(
        id=rng.id, gtin=lot.gtin, lot=lot.lot, county=rng.county, first=rng.first,
        last=rng.last, count=rng.count, created_at=rng.created_at, created_by=rng.created_by,
        uris_url=f"/api/v1/trace/serial-ranges/{rng.id}/uris",
        labels_url=f"/api/v1/trace/serial-ranges/{rng.id}/labels",
    )  # fmt: skip


@router.post(
    "/trace/lots/{gtin}/{lot}/serial-ranges",
    response_model=RangeOut,
    status_code=201,
    summary="Issue a range of unit serials (AI 21) to a lot; each gets an authentication code",
    responses=responses(401, 403, 404, 409, 422, 503),
)
async def issue_range(
    gtin: GtinPath, lot: LotPath, body: RangeCreate, principal: TraceWrite, db: DatabaseDep,
    settings: SettingsDep,
) -> RangeOut:  # fmt: skip
    serial_key(settings)  # no range is issued that could not be printed
    async with db.transaction() as s:
        found = await visible_lot(s, gtin, lot, principal)
        try:
            rng = await service.issue_range(s, found, body, principal)
        except service.SerialError as exc:
            raise ApiError(exc.status, f"{exc.field}: {exc}", field=exc.field) from None
        return range_out(rng, found)


#: Keyset order of a lot's ranges: by first serial (ranges of a lot never overlap).
RANGE_KEYS = (Key(SerialRange.first, kind=int),)


@router.get(
    "/trace/lots/{gtin}/{lot}/serial-ranges",
    response_model=RangePage,
    summary="The serial ranges issued to a lot, by first serial (keyset pages: Link rel=next)",
    responses=responses(401, 404, 422),
)
async def list_ranges(
    gtin: GtinPath, lot: LotPath, principal: TraceRead, session: SessionDep, request: Request,
    response: Response, page: PageDep,
) -> RangePage:  # fmt: skip
    found = await visible_lot(session, gtin, lot, principal)
    got = await fetch_page(session, service.ranges_query(found.id), RANGE_KEYS, page)
    link_next(request, response, got.next_cursor)
    return RangePage(items=[range_out(r, found) for r in got.rows])


async def writable_range(
    session: AsyncSession, range_id: int, principal: Principal
) -> tuple[SerialRange, TraceLot]:
    """The range and its lot: 404 unseen, 403 unless ``principal`` may write the lot."""
    found = await service.get_range(session, range_id, principal)
    if found is None:
        raise ApiError(404, f"serial range {range_id} not found")
    principal.require_write(found[1].county, str(found[1].org_id))
    return found


@router.get(
    "/trace/serial-ranges/{range_id}/uris",
    summary="A range's labels for printers (CSV: gtin, lot, serial, c, uri; the canonical "
    "GS1 Digital Link with ?c=)",
    responses={
        **responses(401, 403, 404, 503),
        200: {"content": {"text/csv": {}}, "description": "One row per serial"},
    },
    response_class=StreamingResponse,
)
async def export_uris(
    range_id: RangeId, principal: TraceWrite, session: SessionDep, settings: SettingsDep,
    db: DatabaseDep,
) -> StreamingResponse:  # fmt: skip
    rng, lot = await writable_range(session, range_id, principal)
    key = serial_key(settings)
    await service.audit_codes_out(db, principal, lot, "exported", rng.first, rng.count)
    base = settings.public_base_url

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["gtin", "lot", "serial", "c", "uri"])
        for serial, uri in service.range_uris(key, base, lot, rng.first, rng.count):
            w.writerow([lot.gtin, lot.lot, serial, uri.rsplit("?c=", 1)[1], uri])
            if buf.tell() > 64_000:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    name = f"serials-{lot.gtin}-{range_id}.csv"
    return StreamingResponse(
        rows(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip
