"""``/api/v1/trace/lots/{gtin}/{lot}/custody``: a lot's custody intervals and their
sensor evidence; ``POST .../custody/evidence`` computes the evidence now.

Permissions (docs/roles.md): ``trace:read`` reads the custody of a lot of one's county
(another county's lot is 404); ``trace:write`` computes evidence (the evidence events are
stored as the caller's, so an organisation role only for its own organisation's lots:
403 otherwise). Audited (``custody.evidence``, and the events' ``epcis.events_stored``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gtin
from cloud.deps import DatabaseDep, SessionDep, TsdbDep
from cloud.errors import ApiError, responses
from cloud.timeseries import TimeSeriesError
from cloud.trace.custody import service
from cloud.trace.custody.schemas import (
    ComputeOut,
    CustodyOut,
    EvidenceOut,
    IntervalOut,
    IntervalState,
    LocationRef,
)
from cloud.trace.custody.storage import CustodyEvidence
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.events.service import EventsRefused
from cloud.trace.lots.schemas import check_lot_number
from cloud.trace.lots.service import get_lot
from cloud.trace.lots.storage import TraceLot

router = APIRouter(tags=["trace: custody"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]
Gtin = Annotated[str, Path(description="GTIN-8/12/13/14")]
LotNumber = Annotated[str, Path(description="Lot number (GS1 AI 10)")]


async def _lot(session: AsyncSession, gtin: str, lot: str, principal: Principal) -> TraceLot:
    try:
        g = check_gtin(gtin)
    except ValueError as exc:
        raise ApiError(422, f"path.gtin: {exc}", field="path.gtin") from None
    try:
        n = check_lot_number(lot)
    except ValueError as exc:
        raise ApiError(422, f"path.lot: {exc}", field="path.lot") from None
    found = await get_lot(session, g, n, principal)
    if found is None:
        raise ApiError(404, f"lot {n!r} of GTIN {g} not found")
    return found


def _evidence(row: CustodyEvidence) -> EvidenceOut:
    return EvidenceOut(
        event_id=row.event_id,
        supersedes=row.supersedes,
        status=row.status,
        coverage=row.coverage,
        source=row.source,
        period_start=row.custody_start,
        period_end=row.period_end,
        closed=row.closed,
        computed_at=row.computed_at,
        computed_by=row.computed_by,
        summary=row.figures.get("summary", {}),
        elements=row.figures.get("elements", []),
        limits=row.figures.get("limits"),
    )


async def _custody(session: AsyncSession, lot: TraceLot, principal: Principal) -> CustodyOut:
    out = []
    for v in await service.custody_of(session, lot):
        i, loc = v.interval, v.location
        state: IntervalState
        if loc is None:
            state = "not_in_catalog"
        elif v.evidence:
            state = "evidenced"
        elif not v.measured:
            state = "no_devices"
        else:
            state = "open" if i.end is None else "pending"
        ref = None
        if loc is not None:
            seen = principal.can_see(loc.county)
            ref = LocationRef(
                id=loc.id,
                gln=loc.gln,
                gln_extension=loc.gln_extension,
                county=loc.county,
                name=loc.name if seen else None,
                kind=loc.kind if seen else None,
            )
        out.append(
            IntervalOut(
                place=i.place,
                location=ref,
                start=i.start,
                end=i.end,
                opened_by=i.opened_by,
                closed_by=i.closed_by,
                container=i.container,
                state=state,
                evidence=_evidence(v.evidence[0]) if v.evidence else None,
                evidence_event_ids=[r.event_id for r in v.evidence],
            )
        )
    return CustodyOut(
        gtin=lot.gtin, lot=lot.lot, uri=dl_uri(lot.gtin, lot.lot), county=lot.county, intervals=out
    )


@router.get(
    "/trace/lots/{gtin}/{lot}/custody",
    response_model=CustodyOut,
    summary="A lot's custody intervals (which place held it, from when to when), each with "
    "its current sensor evidence and every evidence event's id",
    responses=responses(401, 404, 422),
)
async def get_custody(
    gtin: Gtin, lot: LotNumber, principal: TraceRead, session: SessionDep
) -> CustodyOut:
    found = await _lot(session, gtin, lot, principal)
    return await _custody(session, found, principal)


@router.post(
    "/trace/lots/{gtin}/{lot}/custody/evidence",
    response_model=ComputeOut,
    summary="Compute the sensor evidence of the lot's custody intervals now; changed "
    "figures (late data) give a new evidence event that supersedes the old one",
    responses=responses(401, 403, 404, 422, 503),
)
async def compute_evidence(
    gtin: Gtin,
    lot: LotNumber,
    principal: TraceWrite,
    db: DatabaseDep,
    tsdb: TsdbDep,
    include_open: Annotated[
        bool,
        Query(description="Also the interval the lot is in now, up to the start of this minute"),
    ] = True,
) -> ComputeOut:
    async with db.session() as s:
        found = await _lot(s, gtin, lot, principal)
    principal.require_write(found.county, str(found.org_id))
    try:
        done = await service.compute_evidence(db, tsdb, found, principal, include_open=include_open)
    except TimeSeriesError as exc:
        raise ApiError(503, f"time-series store unavailable: {exc}; retry later") from None
    except EventsRefused as exc:
        first = exc.errors[0]
        raise ApiError(first.status, f"{first.field}: {first.reason}", field=first.field) from None
    async with db.session() as s:
        custody = await _custody(s, found, principal)
    return ComputeOut(
        stored=done.stored,
        superseded=done.superseded,
        unchanged=done.unchanged,
        final=done.final,
        unmeasured=done.unmeasured,
        custody=custody,
    )
