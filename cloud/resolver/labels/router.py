"""QR labels: one code as SVG or PNG, a range as a printable A4 PDF sheet.

Every QR carries the canonical GS1 Digital Link on ``public_base_url``: the lot's
(``/01/{gtin}/10/{lot}``), or a serial's with its code (``.../21/{serial}?c=...``).
Permissions: a lot's own QR is ``trace:read`` (it proves nothing); a serial's QR and
a range's sheet hold valid codes: ``trace:write`` on the lot (as the CSV export).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from cloud.deps import DatabaseDep, SessionDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.resolver.labels.pdf import Label, label_sheet
from cloud.resolver.labels.qr import qr_png, qr_svg
from cloud.resolver.serials import service
from cloud.resolver.serials.router import (
    GtinPath,
    LotPath,
    RangeId,
    TraceRead,
    TraceWrite,
    serial_key,
    visible_lot,
    writable_range,
)
from cloud.resolver.serials.schemas import MAX_SERIAL
from cloud.trace.epcis.identifiers import dl_uri

router = APIRouter(tags=["resolver: labels"])

#: Labels in one PDF (a print run of many is several requests: ?start=)
MAX_SHEET_LABELS = 1000
#: Labels in one PDF when ``count`` is not given (10 pages of 3 x 8)
DEFAULT_SHEET_LABELS = 240
Format = Annotated[Literal["svg", "png"], Query(description="svg (default) or png")]
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}
_QR_RESPONSES = {
    200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "The QR code"}
}


def hri(gtin: str, lot: str, serial: str | None) -> tuple[str, ...]:
    """GS1 human-readable interpretation, one AI a line."""
    lines = (f"(01) {gtin}", f"(10) {lot}")
    return (*lines, f"(21) {serial}") if serial is not None else lines


def _image(uri: str, fmt: str, title: str) -> Response:
    body = qr_svg(uri, title=title) if fmt == "svg" else qr_png(uri)
    return Response(body, media_type=MEDIA[fmt], headers={"X-Digital-Link": uri})


@router.get(
    "/trace/lots/{gtin}/{lot}/qr",
    summary="The lot's QR code (its GS1 Digital Link), SVG or PNG",
    responses={**responses(401, 404, 422), **_QR_RESPONSES},
    response_class=Response,
)
async def lot_qr(
    gtin: GtinPath, lot: LotPath, principal: TraceRead, session: SessionDep,
    settings: SettingsDep, format: Format = "svg",
) -> Response:  # fmt: skip
    found = await visible_lot(session, gtin, lot, principal)
    uri = dl_uri(found.gtin, found.lot, base=settings.public_base_url)
    return _image(uri, format, f"GTIN {found.gtin} LOT {found.lot}")


@router.get(
    "/trace/lots/{gtin}/{lot}/serials/{serial}/qr",
    summary="One serial's QR code (Digital Link with its authentication code), SVG or PNG",
    responses={**responses(401, 403, 404, 422, 503), **_QR_RESPONSES},
    response_class=Response,
)
async def serial_qr(
    gtin: GtinPath, lot: LotPath,
    serial: Annotated[str, Path(description="A serial issued to the lot (GS1 AI 21)")],
    principal: TraceWrite, session: SessionDep, settings: SettingsDep, db: DatabaseDep,
    format: Format = "svg",
) -> Response:  # fmt: skip
    found = await visible_lot(session, gtin, lot, principal)
    principal.require_write(found.county, str(found.org_id))
    key = serial_key(settings)
    if not await service.is_issued(session, found.gtin, found.lot, serial):
        raise ApiError(404, f"serial {serial!r} of lot {found.lot!r} not found (not issued)")
    await service.audit_codes_out(db, principal, found, "printed", int(serial), 1)
    uri = service.serial_uri(key, settings.public_base_url, found.gtin, found.lot, serial)
    return _image(uri, format, f"GTIN {found.gtin} LOT {found.lot} SN {serial}")


@router.get(
    "/trace/serial-ranges/{range_id}/labels",
    summary="A range's labels as a printable A4 PDF (columns x rows a page; QR with the "
    "Digital Link and its code, GTIN, lot and serial in text)",
    responses={
        **responses(401, 403, 404, 422, 503),
        200: {"content": {"application/pdf": {}}, "description": "The label sheet"},
    },
    response_class=Response,
)
async def range_labels(
    range_id: RangeId, principal: TraceWrite, session: SessionDep, settings: SettingsDep,
    db: DatabaseDep,
    start: Annotated[
        int | None, Query(ge=1, le=MAX_SERIAL, description="First serial (default: the range's)")
    ] = None,
    count: Annotated[int | None, Query(ge=1, le=MAX_SHEET_LABELS,
                                       description="How many labels (default: 240, or to the range's end)")] = None,
    columns: Annotated[int, Query(ge=1, le=8)] = 3,
    rows: Annotated[int, Query(ge=1, le=16)] = 8,
) -> Response:  # fmt: skip
    rng, lot = await writable_range(session, range_id, principal)
    first = rng.first if start is None else start
    if not rng.first <= first <= rng.last:
        raise ApiError(422, f"query.start: serial {first} is not in range {rng.first}-{rng.last}",
                       field="query.start")  # fmt: skip
    left = rng.last - first + 1
    if count is not None and count > left:
        raise ApiError(422, f"query.count: only {left} serials from {first} to the range's end",
                       field="query.count")  # fmt: skip
    n = count if count is not None else min(left, DEFAULT_SHEET_LABELS)
    key = serial_key(settings)
    await service.audit_codes_out(db, principal, lot, "printed", first, n)
    labels = [
        Label(uri, hri(lot.gtin, lot.lot, serial))
        for serial, uri in service.range_uris(key, settings.public_base_url, lot, first, n)
    ]
    pdf = label_sheet(labels, columns=columns, rows=rows)
    name = f"labels-{lot.gtin}-{first}-{first + n - 1}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})  # fmt: skip
