"""``/api/v1/inspections``: camera inspection records, their thumbnails; county-scoped.

Any signed-in role reads its own county's inspections (a prefecture admin every
county's); another county's inspection is 404, as if it did not exist.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from cloud.auth.deps import PrincipalDep, require
from cloud.auth.principal import Principal
from cloud.db import MAX_INT32
from cloud.deps import SessionDep, SettingsDep
from cloud.devices.router import _aware  # one rule for time zones in queries
from cloud.errors import ApiError, responses
from cloud.inspections import service
from cloud.inspections.files import FileStoreError, files_for
from cloud.inspections.schemas import InspectionOut, InspectionPage
from cloud.inspections.storage import InspectionRecord
from cloud.pagination import PageDep, link_next

router = APIRouter(tags=["inspections"])

InspectionsRead = Annotated[Principal, require("inspections:read")]

PREFIX = "/api/v1"
InspectionId = Annotated[int, Path(ge=1, le=MAX_INT32)]


async def _inspection(
    session: SessionDep, principal: PrincipalDep, inspection_id: int
) -> InspectionRecord:
    r = await session.get(InspectionRecord, inspection_id)
    if r is None:
        raise ApiError(404, f"inspection {inspection_id} not found")
    principal.visible(r.county, "inspection", str(inspection_id))
    return r


@router.get(
    "/inspections",
    response_model=InspectionPage,
    summary="Inspections, newest first; filter by lot, device and time (Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_inspections(
    principal: InspectionsRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    lot: Annotated[str | None, Query(max_length=64, description="Lot id")] = None,
    device: Annotated[str | None, Query(max_length=128, description="Camera device id")] = None,
    start: Annotated[datetime | None, Query(description="From (inclusive), ISO-8601")] = None,
    end: Annotated[datetime | None, Query(description="To (exclusive), ISO-8601")] = None,
    county: Annotated[str | None, Query(description="GB/T 2260 code you can see")] = None,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_INT32, description="Deprecated (use cursor): older than this id"),
    ] = None,
) -> InspectionPage:
    start_utc = None if start is None else _aware(start, "start")
    end_utc = None if end is None else _aware(end, "end")
    if start_utc is not None and end_utc is not None and end_utc <= start_utc:
        raise ApiError(422, "end: must be after start", field="query.end")
    found = await service.list_inspections(
        session,
        principal.counties(county),
        lot=lot,
        device=device,
        start=start_utc,
        end=end_utc,
        page=page,
        before_id=before_id,
    )
    link_next(request, response, found.next_cursor)
    return InspectionPage(
        items=[service.inspection_out(r, PREFIX) for r in found.rows],
        next_before_id=found.rows[-1].id if found.next_cursor else None,
    )


@router.get(
    "/inspections/{inspection_id}",
    response_model=InspectionOut,
    summary="One inspection: lot, program, grade, counts, measurements, image hash",
    responses=responses(401, 404, 422),
)
async def get_inspection(
    inspection_id: InspectionId, principal: InspectionsRead, session: SessionDep
) -> InspectionOut:
    return service.inspection_out(await _inspection(session, principal, inspection_id), PREFIX)


@router.get(
    "/inspections/{inspection_id}/thumbnail",
    response_class=Response,
    summary="The annotated thumbnail (image/jpeg)",
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The JPEG"},
        **responses(401, 404, 422),
    },
)
async def get_thumbnail(
    inspection_id: InspectionId,
    principal: InspectionsRead,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    r = await _inspection(session, principal, inspection_id)
    if r.thumbnail_key is None:
        why = f": {r.thumbnail_error}" if r.thumbnail_error else ": the gateway sent none"
        raise ApiError(404, f"inspection {inspection_id} has no thumbnail{why}")
    try:
        data = await asyncio.to_thread(files_for(settings).get, r.thumbnail_key)
    except FileStoreError as exc:
        raise ApiError(404, f"thumbnail of inspection {inspection_id}: {exc}") from None
    return Response(
        data,
        media_type="image/jpeg",
        headers={"ETag": f'"{r.thumbnail_key}"', "Cache-Control": "private, max-age=86400"},
    )
