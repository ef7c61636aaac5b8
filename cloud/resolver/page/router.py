"""The trace page's routes.

- ``GET /api/v1/public/trace/{gtin}/{lot}`` (public): the page's data as JSON, the same
  dict the HTML renders (:func:`cloud.resolver.page.service.page_data`); ``?serial=&c=``
  checks a serial's code (no scan is recorded for a JSON read).
- ``GET /api/v1/public/trace/{gtin}/{lot}/inspections/{id}/thumbnail`` (public): the
  annotated thumbnail of a camera inspection *of that lot* (any other is 404).
- ``GET /api/v1/trace/lots/{gtin}/{lot}/operator-view`` (``trace:read``, county-scoped:
  another county's lot is 404): the operators' additions, the full event list (as
  stored, declarations included), the EPCIS export link, recall both ways and the brand
  decision history.
- ``/static/trace-page/``: the page's script, style and the vendored crypto fallback.
- The HTML page is served by the resolver (cloud/resolver/router.py) for the default
  link of ``GET /01/{gtin}/10/{lot}[/21/{serial}]``, through :func:`.views.trace_page`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gtin
from cloud.deps import DatabaseDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.inspections.files import FileStoreError, files_for
from cloud.inspections.storage import InspectionRecord
from cloud.resolver.page import codes
from cloud.resolver.page.admission import Overloaded
from cloud.resolver.page.service import _events, find_lot
from cloud.resolver.page.views import HEADERS, STATIC_URL, lot_entry, overloaded
from cloud.resolver.scans.service import flags_query
from cloud.resolver.scans.storage import ScanFlag
from cloud.trace.brand.service import history
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.lots.schemas import check_lot_number
from cloud.trace.lots.service import get_lot
from cloud.trace.recall.service import recall
from cloud.trace.results.service import names_lot
from cloud.web.etag import fresh
from cloud.web.ratelimit import rate_limit

HERE = FsPath(__file__).resolve().parent
router = APIRouter()
TraceRead = Annotated[Principal, require("trace:read")]
#: public, and limited per client address with the resolver's buckets (one budget)
PUBLIC = [require("public"), Depends(rate_limit)]
Gtin = Annotated[str, Path(description="GTIN-8/12/13/14", max_length=14)]
LotNumber = Annotated[str, Path(description="Lot number (GS1 AI 10)", max_length=20)]
Code = Annotated[str | None, Query(max_length=64, description="The serial's authentication code")]
Serial = Annotated[str | None, Query(max_length=20, description="Serial number (GS1 AI 21)")]


def _key(gtin: str, lot: str) -> tuple[str, str]:
    try:
        g = check_gtin(gtin)
    except ValueError as exc:
        raise ApiError(422, f"path.gtin: {exc}", field="path.gtin") from None
    try:
        n = check_lot_number(lot)
    except ValueError as exc:
        raise ApiError(422, f"path.lot: {exc}", field="path.lot") from None
    return g, n


@router.get(
    "/public/trace/{gtin}/{lot}",
    dependencies=PUBLIC,
    tags=["trace page"],
    summary="The consumer trace page's data (public): product, brand, origin, 合格证, "
    "certificates, timeline, cold-chain evidence, grading and the events' proofs",
    responses=responses(404, 422, 429),
)
async def public_trace(
    gtin: Gtin,
    lot: LotNumber,
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    serial: Serial = None,
    c: Code = None,
) -> Response:
    g, n = _key(gtin, lot)
    try:
        entry = await lot_entry(request, db, g, n)
    except Overloaded as exc:
        return overloaded(exc)
    if entry is None:
        raise ApiError(404, f"lot {n!r} of GTIN {g} not found")
    if serial is None and c is None:
        headers = {"Cache-Control": "no-cache", "ETag": entry.json_etag}
        return fresh(request, entry.json_etag, headers) or Response(
            entry.json, media_type="application/json", headers=headers
        )
    async with db.session() as s:
        code = await codes.check(s, g, n, serial, c)
    return JSONResponse({**entry.data, "code": code}, headers={"Cache-Control": "no-store"})


@router.get(
    "/public/trace/{gtin}/{lot}/inspections/{inspection_id}/thumbnail",
    dependencies=PUBLIC,
    response_class=Response,
    tags=["trace page"],
    summary="The annotated thumbnail of a camera inspection of this lot (public)",
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The JPEG"},
        **responses(404, 422, 429),
    },
)
async def public_thumbnail(
    gtin: Gtin,
    lot: LotNumber,
    inspection_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    db: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    g, n = _key(gtin, lot)
    async with db.session() as s:
        found = await find_lot(s, g, n)
        r = await s.get(InspectionRecord, inspection_id)
    if found is None or r is None or r.county != found.county or not names_lot(r.lot, found):
        raise ApiError(404, f"inspection {inspection_id} of lot {n!r} not found")
    if r.thumbnail_key is None:
        raise ApiError(404, f"inspection {inspection_id} has no thumbnail")
    try:
        data = await asyncio.to_thread(files_for(settings).get, r.thumbnail_key)
    except FileStoreError as exc:
        raise ApiError(404, f"thumbnail of inspection {inspection_id}: {exc}") from None
    return Response(
        data,
        media_type="image/jpeg",
        headers={"ETag": f'"{r.thumbnail_key}"', "Cache-Control": "public, max-age=86400"},
    )


#: scan flags shown in the operators' view (every flag: GET /api/v1/trace/scan-flags)
FLAGS_SHOWN = 200


@router.get(
    "/trace/lots/{gtin}/{lot}/operator-view",
    tags=["trace page"],
    summary="The operators' view of a lot's trace page: every event, the EPCIS export link, "
    "recall both ways, the brand decision history and the scan anomalies",
    responses=responses(401, 403, 404, 422),
)
async def operator_view(
    gtin: Gtin, lot: LotNumber, principal: TraceRead, db: DatabaseDep
) -> dict[str, Any]:
    g, n = _key(gtin, lot)
    async with db.session() as s:
        found = await get_lot(s, g, n, principal)
        if found is None:
            raise ApiError(404, f"lot {n!r} of GTIN {g} not found")
        rows, _via = await _events(s, found)
        counties = principal.counties()
        decisions = await history(s, found.id)
        flags = await s.scalars(
            flags_query([found.county], gtin=g, lot=n)
            .order_by(ScanFlag.last_at.desc(), ScanFlag.id.desc())
            .limit(FLAGS_SHOWN)
        )
        return {
            "gtin": g,
            "lot": n,
            "county": found.county,
            "events": [
                {
                    "event": row.body
                    if row.error_declaration is None
                    else {**row.body, "errorDeclaration": row.error_declaration},
                    "declared": row.error_declaration is not None,
                }
                for row in rows
            ],
            "epcis_export": "/api/v1/epcis/events?MATCH_anyEPCClass="
            + quote(dl_uri(g, n), safe="")
            + "&perPage=1000",
            "recall": {
                "backward": await recall(s, found, "backward", counties, 10),
                "forward": await recall(s, found, "forward", counties, 10),
            },
            "brand_history": [
                {
                    "decided_at": d.decided_at.isoformat(),
                    "granted": d.granted,
                    "ruleset_version": d.ruleset_version,
                    "trigger": d.trigger,
                    "reason": d.reason,
                    "states": d.states,
                }
                for d in decisions
            ],
            # the anomalies of the lot's scans (cloud/resolver/scans), newest first
            "scan_flags": [
                {
                    "kind": f.kind,
                    "serial": f.serial or None,
                    "hits": f.hits,
                    "first_at": f.first_at.isoformat(),
                    "last_at": f.last_at.isoformat(),
                    "detail": f.detail,
                }
                for f in flags
            ],
        }


def install(app: FastAPI) -> None:
    """The page's static files (public: they hold no data)."""
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="trace-page-static")


__all__ = ["HEADERS", "install", "router"]
