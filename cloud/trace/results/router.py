"""Test results and camera inspections of a lot.

- ``POST /api/v1/trace/lots/{gtin}/{lot}/tests`` — our own ``test`` operation: records
  an EPCIS ObjectEvent (OBSERVE, bizStep ``inspecting`` or ``sampling``) naming the lot,
  carrying the results as ``dh:testResult``, through ``store_events`` (so it is logged
  like any event); the rows follow from the event. ``trace:write``: admins of the
  lot's county, organisation roles for their own organisation's lots. Audited (the
  event store's ``epcis.events_stored``).
- ``GET .../tests`` — the lot's results, newest first, keyset pages (``limit``,
  ``cursor``, ``Link: rel="next"``), events declared in error left out.
- ``GET .../inspections`` — the camera inspections that name the lot (at most 500,
  newest first; ``/api/v1/inspections?lot=`` pages through one camera's text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gln
from cloud.db import utcnow
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import ApiError, responses
from cloud.inspections.schemas import InspectionOut
from cloud.inspections.service import inspection_out
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.trace.certificates.schemas import Instant
from cloud.trace.events.service import EventsRefused
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lotref import GtinPath, LotPath, lot_or_404
from cloud.trace.results import service
from cloud.trace.results.schemas import ResultIn, checked_results
from cloud.trace.results.storage import TraceTestResult

router = APIRouter(tags=["trace: tests"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]

RESULT_KEYS = (Key(TraceTestResult.id, desc=True, kind=int),)


class TestsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    biz_step: Literal["inspecting", "sampling"] = "inspecting"
    time: Instant | None = Field(default=None, description="When tested (with offset); now")
    read_point_gln: str | None = Field(default=None, description="Where (GLN)")
    biz_location_gln: str | None = Field(default=None, description="Business location (GLN)")
    results: list[ResultIn] = Field(min_length=1, max_length=200)


class TestResultOut(BaseModel):
    id: int
    event_id: str
    tested_at: datetime
    biz_step: str | None = None
    test: str
    analyte: str | None
    value: float | None
    unit: str | None
    min: float | None
    limit: float | None
    passed: bool
    method: str | None
    lab: str | None
    standard: str | None
    report: str | None


class TestsRecorded(BaseModel):
    event_id: str
    results: list[TestResultOut]


class TestResultPage(BaseModel):
    items: list[TestResultOut]


class LotInspections(BaseModel):
    items: list[InspectionOut]


def result_out(r: TraceTestResult, biz_step: str | None = None) -> TestResultOut:
    return TestResultOut(
        id=r.id, event_id=r.event_id, tested_at=r.tested_at, biz_step=biz_step, test=r.test,
        analyte=r.analyte, value=r.value, unit=r.unit, min=r.limit_min, limit=r.limit_max,
        passed=r.passed, method=r.method, lab=r.lab, standard=r.standard, report=r.report,
    )  # fmt: skip


def _location(gln: str | None, field: str) -> str | None:
    if gln is None:
        return None
    try:
        return f"https://id.gs1.org/414/{check_gln(gln)}"
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None


@router.post(
    "/trace/lots/{gtin}/{lot}/tests",
    response_model=TestsRecorded,
    status_code=201,
    summary="Record test results of the lot (an inspecting or sampling EPCIS event carrying "
    "dh:testResult)",
    responses=responses(401, 403, 404, 409, 422),
)
async def record_tests(
    gtin: GtinPath, lot: LotPath, body: TestsCreate, principal: TraceWrite, db: DatabaseDep
) -> TestsRecorded:
    results = checked_results(body.biz_step, body.results)
    read_point = _location(body.read_point_gln, "body.read_point_gln")
    biz_location = _location(body.biz_location_gln, "body.biz_location_gln")
    async with db.transaction() as s:
        found = await lot_or_404(s, gtin, lot, principal)
        principal.require_write(found.county, str(found.org_id))
        try:
            stored = await service.record_tests(
                s, found, results, principal, biz_step=body.biz_step,
                time=body.time or utcnow(), read_point=read_point, biz_location=biz_location,
            )  # fmt: skip
        except EventsRefused as exc:
            first = exc.errors[0]
            raise ApiError(
                first.status, f"{first.field}: {first.reason}", field=first.field
            ) from None
        rows = await s.scalars(
            select(TraceTestResult)
            .where(TraceTestResult.event_id == stored.event_id)
            .order_by(TraceTestResult.position)
        )
        return TestsRecorded(
            event_id=stored.event_id, results=[result_out(r, body.biz_step) for r in rows]
        )


@router.get(
    "/trace/lots/{gtin}/{lot}/tests",
    response_model=TestResultPage,
    summary="The lot's test results, newest first (keyset pages: Link rel=next)",
    responses=responses(401, 404, 422),
)
async def lot_tests(
    gtin: GtinPath,
    lot: LotPath,
    principal: TraceRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    test: Annotated[str | None, Query(description="Only this test code")] = None,
) -> TestResultPage:
    found = await lot_or_404(session, gtin, lot, principal)
    events = (
        select(TraceEventObject.event_seq)
        .join(TraceEvent, TraceEvent.seq == TraceEventObject.event_seq)
        .where(
            TraceEventObject.gtin == found.gtin,
            TraceEventObject.lot == found.lot,
            TraceEvent.error_declaration.is_(None),
        )
    )
    q = select(TraceTestResult).where(
        TraceTestResult.event_seq.in_(events), TraceTestResult.county == found.county
    )
    if test is not None:
        q = q.where(TraceTestResult.test == test)
    rows = await fetch_page(session, q, RESULT_KEYS, page)
    link_next(request, response, rows.next_cursor)
    return TestResultPage(items=[result_out(r) for r in rows.rows])


@router.get(
    "/trace/lots/{gtin}/{lot}/inspections",
    response_model=LotInspections,
    summary="The camera inspections that name the lot (Digital Link, LGTIN URN or lot "
    "number), newest first, at most 500",
    responses=responses(401, 404, 422),
)
async def lot_inspections(
    gtin: GtinPath, lot: LotPath, principal: TraceRead, session: SessionDep
) -> LotInspections:
    found = await lot_or_404(session, gtin, lot, principal)
    records = await service.inspections_of(session, found)
    return LotInspections(items=[inspection_out(r, "/api/v1") for r in records])
