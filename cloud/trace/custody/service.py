"""Custody of a lot and its sensor evidence.

- :func:`custody_of`: the lot's custody intervals (derived from its events each time,
  :mod:`cloud.trace.custody.rules`), each with its location, and its evidence events
  (newest, the current one, first).
- :func:`compute_evidence`: evidence for each interval at a catalog location, computed
  from the time series now (:mod:`cloud.trace.custody.evidence`), stored as EPCIS events
  through :func:`cloud.trace.events.service.store_events` (so into the tamper-evident
  log) and recorded in ``trace_custody_evidence``. An interval whose evidence would say
  what its current evidence says gets nothing new; one whose figures changed (late
  data, a device linked afterwards, a changed profile, an open interval since closed)
  gets a new event that supersedes the current one (``dh:supersedes``); nothing is
  ever edited. Evidence is final once the interval's raw data has expired
  (:data:`cloud.timeseries.windows.RAW_RETENTION_DAYS`): the roll-ups alone could only
  restate it less exactly.
- :func:`run_pass`: the periodic job (``dehong trace evidence``): the closed intervals
  of the lots whose custody new events changed, and a recheck of every interval whose
  evidence ends within raw retention (late data lands there).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal, Role
from cloud.catalog.service import get_location_by_gln, get_product_by_gtin, get_profile
from cloud.catalog.storage import Location
from cloud.db import Database, utcnow
from cloud.timeseries import TimeSeriesStore
from cloud.timeseries.windows import DAY_MS, MINUTE_MS, RAW_RETENTION_DAYS
from cloud.trace.custody.event import CONTEXT, evidence_event, fingerprint
from cloud.trace.custody.evidence import (
    Element,
    IntervalEvidence,
    Limits,
    Summary,
    device_periods,
    interval_evidence,
    ms,
)
from cloud.trace.custody.rules import MAX_DEPTH, Interval, intervals
from cloud.trace.custody.sources import lot_facts
from cloud.trace.custody.storage import CustodyCursor, CustodyEvidence
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.events.service import store_events
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.service import lots_by_key
from cloud.trace.lots.storage import TraceLot
from protocol.ids import PREFECTURE

#: the job's cursor in ``trace_custody_cursor``
CURSOR = "evidence"


@dataclass(frozen=True, slots=True)
class JobPrincipal(Principal):
    """The evidence job: writes evidence in every county; the audit log names it by
    ``name`` (``cli:<unix user>``)."""

    @property
    def actor(self) -> str:
        return self.name


def job_principal(name: str) -> JobPrincipal:
    return JobPrincipal("user", name, Role.PREFECTURE_ADMIN, PREFECTURE)


@dataclass(slots=True)
class IntervalView:
    """One custody interval as the API shows it: its location (None: a place not in our
    catalog), whether devices measured it, its evidence rows newest first."""

    interval: Interval
    location: Location | None
    measured: bool
    evidence: list[CustodyEvidence] = field(default_factory=list)


def _key(place: str, start: datetime) -> tuple[str, int]:
    return place, ms(start)


async def _locations(session: AsyncSession, places: Iterable[str]) -> dict[str, Location | None]:
    return {p: await get_location_by_gln(session, p) for p in set(places)}


async def _evidence_rows(
    session: AsyncSession, lot_id: int
) -> dict[tuple[str, int], list[CustodyEvidence]]:
    rows = await session.scalars(
        select(CustodyEvidence)
        .where(CustodyEvidence.lot_id == lot_id)
        .order_by(CustodyEvidence.id.desc())
    )
    out: dict[tuple[str, int], list[CustodyEvidence]] = {}
    for row in rows:
        out.setdefault(_key(row.place, row.custody_start), []).append(row)
    return out


async def custody_of(session: AsyncSession, lot: TraceLot) -> list[IntervalView]:
    """The lot's custody intervals, oldest first, with their evidence."""
    found = intervals(await lot_facts(session, lot.gtin, lot.lot))
    places = await _locations(session, (i.place for i in found))
    rows = await _evidence_rows(session, lot.id)
    out = []
    for i in found:
        loc = places[i.place]
        measured = False
        if loc is not None:
            end = ms(i.end) if i.end is not None else int(time.time() * 1000)
            measured = bool(await device_periods(session, loc.id, ms(i.start), end))
        out.append(IntervalView(i, loc, measured, rows.get(_key(i.place, i.start), [])))
    return out


async def lot_limits(session: AsyncSession, gtin: str) -> Limits | None:
    """The commodity profile of the lot's product (None: no product or no profile)."""
    product = await get_product_by_gtin(session, gtin)
    if product is None or product.profile_id is None:
        return None
    profile = await get_profile(session, product.profile_id)
    return None if profile is None else Limits.of(profile)


def _summary_json(s: Summary) -> dict[str, Any]:
    out = asdict(s)
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = round(v, 4 if k == "coverage" else 3)
    return out


def figures_of(ev: IntervalEvidence) -> dict[str, Any]:
    """What the API shows of the evidence (rounded as the event is)."""

    def element(e: Element) -> dict[str, Any]:
        return {
            "device": e.device,
            "start": datetime.fromtimestamp(e.start_ms / 1000, UTC).isoformat(),
            "end": datetime.fromtimestamp(e.end_ms / 1000, UTC).isoformat(),
            "readings": {
                q: {
                    "metric": r.metric,
                    "poll_interval_s": e.poll_interval_s[q],
                    "poll_interval_from": e.poll_source[q],
                    **_summary_json(Summary.of(r)),
                }
                for q, r in e.readings.items()
            },
        }

    return {
        "summary": {q: _summary_json(s) for q, s in ev.summary.items()},
        "elements": [element(e) for e in ev.elements],
        "limits": None if ev.limits is None else asdict(ev.limits),
    }


@dataclass(slots=True)
class _Planned:
    interval: Interval
    location: Location
    evidence: IntervalEvidence
    event: dict[str, Any]
    fingerprint: str
    #: the current evidence's eventID when this one is computed (None: there was none)
    current: str | None


@dataclass(slots=True)
class Outcome:
    """What :func:`compute_evidence` did: eventIDs stored (new evidence), and how many
    intervals were unchanged, final (raw data expired), or not measurable."""

    stored: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    unchanged: int = 0
    final: int = 0
    unmeasured: int = 0


async def _plan(
    session: AsyncSession,
    store: TimeSeriesStore,
    lot: TraceLot,
    now_ms: int,
    include_open: bool,
    out: Outcome,
) -> list[_Planned]:
    found = intervals(await lot_facts(session, lot.gtin, lot.lot))
    places = await _locations(session, (i.place for i in found))
    rows = await _evidence_rows(session, lot.id)
    limits = await lot_limits(session, lot.gtin)
    horizon = now_ms - RAW_RETENTION_DAYS * DAY_MS
    lot_uri = dl_uri(lot.gtin, lot.lot)
    plan: list[_Planned] = []
    for i in found:
        loc = places[i.place]
        if loc is None or (i.end is None and not include_open):
            out.unmeasured += loc is None
            continue
        start = ms(i.start)
        # an open interval: up to the start of this minute (asked again within the
        # minute, the same data gives the same event)
        end = ms(i.end) if i.end is not None else now_ms // MINUTE_MS * MINUTE_MS
        if end <= start:
            continue
        history = rows.get(_key(i.place, i.start), [])
        current = history[0] if history else None
        if (
            current is not None
            and current.closed
            and i.end is not None
            and ms(current.period_end) == end
            and end < horizon
        ):
            out.final += 1
            continue
        ev = await interval_evidence(session, store, loc, start, end, limits, now_ms=now_ms)
        if ev.status == "no_devices":
            out.unmeasured += 1
            continue
        event = evidence_event(
            lot_uri,
            i.place,
            ev,
            custody_start_ms=start,
            custody_end_ms=None if i.end is None else end,
        )
        fp = fingerprint(event)
        if current is not None and current.fingerprint == fp:
            out.unchanged += 1
            continue
        if current is not None:
            event["dh:supersedes"] = current.event_id
        plan.append(_Planned(i, loc, ev, event, fp, None if current is None else current.event_id))
    return plan


async def _current_ids(session: AsyncSession, lot_id: int) -> dict[tuple[str, int], str]:
    return {k: rows[0].event_id for k, rows in (await _evidence_rows(session, lot_id)).items()}


async def compute_evidence(
    db: Database,
    store: TimeSeriesStore,
    lot: TraceLot,
    principal: Principal,
    *,
    now_ms: int | None = None,
    include_open: bool = True,
) -> Outcome:
    """Compute and store the evidence of the lot's intervals (module docstring);
    ``include_open``: also the interval still open, up to the start of the minute. The time series is read
    before the write transaction, which then stores the events (all or nothing) and
    their rows; an interval another computation evidenced meanwhile is left to it."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    out = Outcome()
    async with db.session() as s:
        plan = await _plan(s, store, lot, now, include_open, out)
    if not plan:
        return out
    async with db.transaction() as s:
        current = await _current_ids(s, lot.id)
        plan = [
            p for p in plan if current.get(_key(p.interval.place, p.interval.start)) == p.current
        ]
        if not plan:
            return out
        stored = await store_events(s, [p.event for p in plan], principal, context=CONTEXT)
        taken = set(
            await s.scalars(
                select(CustodyEvidence.event_id).where(
                    CustodyEvidence.event_id.in_([x.event_id for x in stored])
                )
            )
        )
        for p, st in zip(plan, stored, strict=True):
            if st.event_id in taken:
                continue
            s.add(
                CustodyEvidence(
                    lot_id=lot.id,
                    county=lot.county,
                    place=p.interval.place,
                    location_id=p.location.id,
                    custody_start=p.interval.start,
                    period_end=datetime.fromtimestamp(p.evidence.end_ms / 1000, UTC),
                    closed=p.interval.end is not None,
                    event_id=st.event_id,
                    supersedes=p.current,
                    status=p.evidence.status,
                    coverage=(
                        p.evidence.summary["temperature"].coverage
                        if "temperature" in p.evidence.summary
                        else None
                    ),
                    source=(
                        p.evidence.summary["temperature"].source
                        if "temperature" in p.evidence.summary
                        else None
                    ),
                    fingerprint=p.fingerprint,
                    figures=figures_of(p.evidence),
                    computed_at=utcnow(),
                    computed_by=principal.actor,
                )
            )
            out.stored.append(st.event_id)
            if p.current is not None:
                out.superseded.append(p.current)
        if out.stored:
            await s.flush()
            # the brand's cold chain rule reads these rows; store_events re-evaluated the
            # lot before they were written, so once more now that they are (a lazy
            # import: the brand imports custody)
            from cloud.trace.brand.service import reevaluate

            await reevaluate(s, [await s.get_one(TraceLot, lot.id)], "evidence")
        await record(
            s,
            principal.actor,
            "custody.evidence",
            f"lot:{lot.gtin}/{lot.lot}",
            lot.county,
            {"events": out.stored, "supersede": out.superseded},
        )
    return out


# ------------------------------------------------------------------ the periodic job


async def _lots_in(session: AsyncSession, containers: set[str]) -> set[tuple[str, str]]:
    """Lots aggregated (at any time, at any depth) into ``containers``."""
    lots: set[tuple[str, str]] = set()
    seen = set(containers)
    frontier = set(containers)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        parents = select(TraceEventObject.event_seq).where(
            TraceEventObject.role == "parent", TraceEventObject.uri.in_(sorted(frontier))
        )
        rows = await session.execute(
            select(TraceEventObject.uri, TraceEventObject.gtin, TraceEventObject.lot).where(
                TraceEventObject.event_seq.in_(parents),
                TraceEventObject.role.in_(("child", "quantity")),
            )
        )
        frontier = set()
        for uri, gtin, lot in rows:
            if gtin is not None and lot is not None:
                lots.add((gtin, lot))
            elif uri not in seen:
                seen.add(uri)
                frontier.add(uri)
    return lots


async def lots_touched(session: AsyncSession, after_seq: int, upto_seq: int) -> set[int]:
    """Ids of our lots whose custody events in (after, upto] may change: named by them,
    or aggregated into a container they name."""
    new = (TraceEventObject.event_seq > after_seq, TraceEventObject.event_seq <= upto_seq)
    keys: set[tuple[str, str]] = {
        (g, n)
        for g, n in await session.execute(
            select(TraceEventObject.gtin, TraceEventObject.lot)
            .where(*new, TraceEventObject.lot.is_not(None))
            .distinct()
        )
    }
    containers = set(
        await session.scalars(
            select(TraceEventObject.uri).where(*new, TraceEventObject.gtin.is_(None)).distinct()
        )
    )
    if containers:
        keys |= await _lots_in(session, containers)
    return await _lot_ids(session, keys)


async def _lot_ids(session: AsyncSession, keys: Iterable[tuple[str, str]]) -> set[int]:
    return {lot.id for lot in (await lots_by_key(session, keys)).values()}


@dataclass(slots=True)
class PassResult:
    lots: int = 0
    stored: int = 0
    superseded: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    upto_seq: int = 0


async def run_pass(
    db: Database,
    store: TimeSeriesStore,
    principal: Principal,
    *,
    now_ms: int | None = None,
    lot_ids: Sequence[int] | None = None,
) -> PassResult:
    """One pass of the job: the closed intervals of the lots new events touched (since
    the cursor) and of the lots with evidence ending within raw retention (rechecked
    for late data); then the cursor moves on. ``lot_ids``: only these lots (the cursor
    does not move). A lot that fails is reported and left for the next pass."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    result = PassResult()
    async with db.session() as s:
        if lot_ids is None:
            cursor = await s.get(CustodyCursor, CURSOR)
            after = 0 if cursor is None else cursor.last_seq
            upto = int(await s.scalar(select(func.coalesce(func.max(TraceEvent.seq), 0))) or 0)
            horizon = datetime.fromtimestamp((now - RAW_RETENTION_DAYS * DAY_MS) / 1000, UTC)
            recent = set(
                await s.scalars(
                    select(CustodyEvidence.lot_id)
                    .where(CustodyEvidence.period_end >= horizon)
                    .distinct()
                )
            )
            wanted = sorted(await lots_touched(s, after, upto) | recent)
            result.upto_seq = upto
        else:
            wanted = sorted(set(lot_ids))
        lots = list(await s.scalars(select(TraceLot).where(TraceLot.id.in_(wanted))))
    for lot in lots:
        try:
            done = await compute_evidence(db, store, lot, principal, now_ms=now, include_open=False)
        except Exception as exc:  # noqa: BLE001 - one lot's failure must not stop the pass
            result.errors.append(f"lot {lot.gtin}/{lot.lot}: {type(exc).__name__}: {exc}")
            continue
        result.lots += 1
        result.stored += len(done.stored)
        result.superseded += len(done.superseded)
        result.unchanged += done.unchanged
    if lot_ids is None and not result.errors:
        async with db.transaction() as s:
            cursor = await s.get(CustodyCursor, CURSOR)
            if cursor is None:
                s.add(CustodyCursor(name=CURSOR, last_seq=result.upto_seq, updated_at=utcnow()))
            else:
                cursor.last_seq = max(cursor.last_seq, result.upto_seq)
                cursor.updated_at = utcnow()
    return result
