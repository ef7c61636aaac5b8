"""Test results and camera inspections of a lot.

- **Rows from events**: every stored event carrying ``dh:testResult``
  (:mod:`cloud.trace.results.extension`) gets one ``trace_test_results`` row per result,
  in the transaction that stores it (:func:`events_stored`, called by
  ``store_events``), whoever captured it: the capture interface or our own
  :func:`record_tests`.
- **A lot's results** are those of the events naming it (any role), leaving out events
  declared in error.
- **Camera inspections** (``cloud/inspections``) name a lot as the camera read it: a
  GS1 Digital Link or LGTIN URN of the lot (exact), or the bare lot number, which
  attaches to every lot of that number in the inspection's county (give the camera a
  Digital Link where lot numbers repeat across GTINs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.principal import Principal
from cloud.inspections.storage import InspectionRecord
from cloud.trace.epcis.documents import DH_CONTEXT, DH_PREFIX
from cloud.trace.epcis.identifiers import dl_uri, lot_key
from cloud.trace.epcis.times import event_time_fields
from cloud.trace.events.service import StoredEvent, store_events
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.storage import TraceLot
from cloud.trace.results.extension import (
    FIELD,
    TestResult,
    parse_results,
    result_json,
)
from cloud.trace.results.storage import TraceTestResult

#: inspections of one lot looked at, newest first
INSPECTION_LIMIT = 500


async def events_stored(
    session: AsyncSession, stored: Sequence[StoredEvent], context: list[Any] | None
) -> None:
    """Write the result rows of the newly stored events that carry results."""
    carrying: list[tuple[StoredEvent, list[TestResult]]] = []
    for s in stored:
        if s.outcome != "stored":
            continue
        results = parse_results(s.body, "", context)  # checked before it was stored
        if results:
            carrying.append((s, results))
    if not carrying:
        return
    seqs: dict[str, int] = {}
    times: dict[str, datetime] = {}
    rows = await session.execute(
        select(TraceEvent.event_id, TraceEvent.seq, TraceEvent.event_time).where(
            TraceEvent.event_id.in_([s.event_id for s, _ in carrying])
        )
    )
    for event_id, seq, event_time in rows:
        seqs[event_id], times[event_id] = seq, event_time
    session.add_all(
        TraceTestResult(
            event_seq=seqs[s.event_id],
            event_id=s.event_id,
            position=i,
            county=s.county,
            tested_at=times[s.event_id],
            test=r.test,
            analyte=r.analyte,
            value=r.value,
            unit=r.unit,
            limit_max=r.limit_max,
            limit_min=r.limit_min,
            passed=r.passed,
            method=r.method,
            lab=r.lab,
            standard=r.standard,
            report=r.report,
        )
        for s, results in carrying
        for i, r in enumerate(results)
    )
    await session.flush()


def test_event(
    lot: TraceLot,
    results: Sequence[TestResult],
    *,
    biz_step: str,
    time: datetime,
    read_point: str | None,
    biz_location: str | None,
    event_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The EPCIS ObjectEvent our own ``test`` operation records: OBSERVE of the lot (its
    class in the quantity list), with the results as ``dh:testResult``; the time as
    given, with its own offset. ``event_id``: the client's (None: the event hash);
    ``extra``: more extension fields (``dh:note``)."""
    event: dict[str, Any] = {"eventID": event_id} if event_id is not None else {}
    event |= {
        "type": "ObjectEvent",
        **event_time_fields(time),
        "epcList": [],
        "quantityList": [{"epcClass": dl_uri(lot.gtin, lot.lot)}],
        "action": "OBSERVE",
        "bizStep": biz_step,
    }
    if read_point is not None:
        event["readPoint"] = {"id": read_point}
    if biz_location is not None:
        event["bizLocation"] = {"id": biz_location}
    event[f"{DH_PREFIX}:{FIELD}"] = [result_json(r) for r in results]
    event.update(extra or {})
    return event


async def record_tests(
    session: AsyncSession,
    lot: TraceLot,
    results: Sequence[TestResult],
    principal: Principal,
    *,
    biz_step: str,
    time: datetime,
    read_point: str | None = None,
    biz_location: str | None = None,
    event_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> StoredEvent:
    """Our own ``test`` operation: store the event (through ``store_events``, which
    writes the result rows). The caller commits."""
    event = test_event(
        lot, results, biz_step=biz_step, time=time, read_point=read_point,
        biz_location=biz_location, event_id=event_id, extra=extra,
    )  # fmt: skip
    (stored,) = await store_events(session, [event], principal, context=[DH_CONTEXT])
    return stored


@dataclass(frozen=True, slots=True)
class LotResult:
    row: TraceTestResult
    biz_step: str | None


async def results_of(
    session: AsyncSession,
    lot: TraceLot,
    *,
    test: str | None = None,
    since: datetime | None = None,
) -> list[LotResult]:
    """The lot's test results, newest event first (events declared in error left out)."""
    events = (
        select(TraceEventObject.event_seq)
        .where(TraceEventObject.gtin == lot.gtin, TraceEventObject.lot == lot.lot)
        .scalar_subquery()
    )
    q = (
        select(TraceTestResult, TraceEvent.biz_step)
        .join(TraceEvent, TraceEvent.seq == TraceTestResult.event_seq)
        .where(
            TraceTestResult.event_seq.in_(events),
            TraceTestResult.county == lot.county,
            TraceEvent.error_declaration.is_(None),
        )
        .order_by(
            TraceTestResult.tested_at.desc(),
            TraceTestResult.event_seq.desc(),
            TraceTestResult.position,
        )
    )
    if test is not None:
        q = q.where(TraceTestResult.test == test)
    if since is not None:
        q = q.where(TraceTestResult.tested_at >= since)
    return [LotResult(row, step) for row, step in await session.execute(q)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def names_lot(text: str | None, lot: TraceLot) -> bool:
    """Whether an inspection's lot text names ``lot``: its Digital Link or LGTIN URN
    (any domain, exact GTIN and lot), or its bare lot number."""
    if text is None:
        return False
    if text == lot.lot:
        return True
    return lot_key(text) == (lot.gtin, lot.lot)


async def inspections_of(session: AsyncSession, lot: TraceLot) -> list[InspectionRecord]:
    """The camera inspections that name ``lot``, newest first (of the lot's county):
    candidates by the lot number (as written, or percent-encoded as in a Digital
    Link), then exactly by :func:`names_lot`."""
    forms = {lot.lot, quote(lot.lot, safe="-._~")}
    q = (
        select(InspectionRecord)
        .where(
            InspectionRecord.county == lot.county,
            or_(*(InspectionRecord.lot.like(f"%{_escape_like(f)}%", escape="\\") for f in forms)),
        )
        .order_by(InspectionRecord.ts.desc(), InspectionRecord.id.desc())
        .limit(INSPECTION_LIMIT)
    )
    return [r for r in await session.scalars(q) if names_lot(r.lot, lot)]
