"""Queries over the ``inspections`` table, county-scoped by the caller's counties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.inspections.schemas import InspectionOut
from cloud.inspections.storage import InspectionRecord
from cloud.pagination import Key, Page, PageParams, fetch_page

#: Newest first (cloud/pagination.py).
INSPECTION_KEYS = (Key(InspectionRecord.id, desc=True, kind=int),)


async def list_inspections(
    session: AsyncSession,
    counties: Sequence[str] | None,
    *,
    lot: str | None = None,
    device: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    page: PageParams,
    before_id: int | None = None,
) -> Page[InspectionRecord]:
    """Newest first (by id), a keyset page. ``counties`` None: every county;
    ``start`` inclusive, ``end`` exclusive; ``before_id`` deprecated (the cursor)."""
    q = select(InspectionRecord)
    if counties is not None:
        q = q.where(InspectionRecord.county.in_(counties))
    if lot is not None:
        q = q.where(InspectionRecord.lot == lot)
    if device is not None:
        q = q.where(InspectionRecord.device == device)
    if start is not None:
        q = q.where(InspectionRecord.ts >= start)
    if end is not None:
        q = q.where(InspectionRecord.ts < end)
    if before_id is not None:
        q = q.where(InspectionRecord.id < before_id)
    return await fetch_page(session, q, INSPECTION_KEYS, page)


def inspection_out(r: InspectionRecord, prefix: str) -> InspectionOut:
    return InspectionOut(
        id=r.id,
        gateway_id=r.gateway_id,
        event_id=r.event_id,
        county=r.county,
        site=r.site,
        device=r.device,
        ts=r.ts,
        ts_ms=r.ts_ms,
        program=r.program,
        lot=r.lot,
        usable=r.usable,
        unusable_reason=r.unusable_reason,
        grade=r.grade,
        counts=r.counts,
        measurements=r.measurements,
        image_sha256=r.image_sha256,
        thumbnail_sha256=r.thumbnail_key,
        thumbnail_url=f"{prefix}/inspections/{r.id}/thumbnail" if r.thumbnail_key else None,
        thumbnail_error=r.thumbnail_error,
        received_at=r.received_at,
    )
