"""``recompute_window``: the trips, stops and geofence events of a window of fix time,
recomputed from the fixes and stored in place of the old ones, idempotently.

Where it starts (the *origin*): the results from a stop's first fix onward depend only on
the fixes from it on (engine docstring), so the recompute starts at the latest stored
stop whose scan went on (``resume_ms``) before the window, or at the latest stored item
that follows a gap; with none stored, at the last gap in ``lookback_s`` before the
window. Where it ends (the *cut*): at the first stored stop at or after the window's end
that comes out the same (same start, end and resume), or at a gap of ``max_gap_s`` after
the last fix loaded, or at the end of the data; in each case where each geofence's state
(its last event) agrees with what was stored. Until then it loads further, in chunks
doubling from 2 x ``max_gap_s``. Everything stored from the origin to the cut is
replaced; nothing outside it is touched. Late fixes are never skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.storage import MobileDevice
from cloud.logistics.trips import hooks
from cloud.logistics.trips.arrays import series_of, track_of
from cloud.logistics.trips.engine import Analysis, Item, analyse_track
from cloud.logistics.trips.fences import Fence, FenceEvent, State, fence_events
from cloud.logistics.trips.fixes import Fix, FixesLoader
from cloud.logistics.trips.params import GeofenceParams, TripParams
from cloud.logistics.trips.shapes import Shape
from cloud.logistics.trips.storage import (
    Geofence,
    GeofenceEvent,
    TrackedStop,
    TrackedTrip,
    TripTrack,
)
from cloud.logistics.trips.track import pack, trips_points

log = logging.getLogger(__name__)

Instant = datetime | int


def to_ms(v: Instant, name: str) -> int:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError(f"{name}: a naive datetime; give an aware UTC one")
        return round(v.timestamp() * 1000)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name}: {v!r} is neither an aware datetime nor epoch ms")
    return v


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    vehicle: str
    origin_ms: int
    cut_ms: int | None  # None: to the end of the data
    fixes: int
    trips: int
    stops: int
    events: int
    new_enters: int


def shape_of(geometry: dict) -> Shape:  # type: ignore[type-arg]
    if geometry["type"] == "circle":
        lon, lat = geometry["center"]
        return Shape.circle(lat, lon, geometry["radius_m"])
    return Shape.polygon(geometry["coordinates"])


async def load_fences(session: AsyncSession) -> list[Fence]:
    rows = await session.execute(select(Geofence.id, Geofence.geometry, Geofence.location_id))
    return [Fence(fid, shape_of(geom), loc) for fid, geom, loc in rows]


async def _origin(session: AsyncSession, vehicle: str, start: int) -> int | None:
    cands = [
        await session.scalar(
            select(func.max(TrackedStop.start_ms)).where(
                TrackedStop.vehicle == vehicle,
                TrackedStop.resume_ms.is_not(None),
                TrackedStop.resume_ms < start,
            )
        )
    ]
    for table in (TrackedTrip, TrackedStop):
        cands.append(
            await session.scalar(
                select(func.max(table.start_ms)).where(
                    table.vehicle == vehicle, table.after_gap.is_(True), table.start_ms <= start
                )
            )
        )
    found = [c for c in cands if c is not None]
    return max(found) if found else None


def _origin_from_fixes(fixes: list[Fix], start: int, gap_ms: float) -> int:
    ts = np.unique(np.array([f.t_ms for f in fixes if f.has_position and f.t_ms < start]))
    if not len(ts):
        return start
    gaps = np.flatnonzero(np.diff(ts) >= gap_ms)
    return int(ts[gaps[-1] + 1]) if len(gaps) else int(ts[0])


async def _stored_events(
    session: AsyncSession, vehicle: str, lo: int | None, hi: int | None
) -> list[tuple[int, str, int]]:
    q = select(GeofenceEvent.fence_id, GeofenceEvent.kind, GeofenceEvent.at_ms).where(
        GeofenceEvent.vehicle == vehicle
    )
    if lo is not None:
        q = q.where(GeofenceEvent.at_ms >= lo)
    if hi is not None:
        q = q.where(GeofenceEvent.at_ms < hi)
    rows = await session.execute(q.order_by(GeofenceEvent.at_ms, GeofenceEvent.id))
    return [(f, k, a) for f, k, a in rows]


def _states(base: dict[int, State], events: list[tuple[int, str, int]]) -> dict[int, State]:
    out = dict(base)
    for fid, kind, _ in events:
        out[fid] = kind == "enter"
    return out


async def _sync_stop(session: AsyncSession, vehicle: str, an: Analysis, end: int) -> int | None:
    """The first new stop at or after ``end`` that is stored the same: its start."""
    for item in an.stops:
        if item.start_ms < end or item.resume_ms is None:
            continue
        row = await session.scalar(
            select(TrackedStop).where(
                TrackedStop.vehicle == vehicle, TrackedStop.start_ms == item.start_ms
            )
        )
        if row is not None and row.end_ms == item.end_ms and row.resume_ms == item.resume_ms:
            return item.start_ms
    return None


async def _has_rows_after(session: AsyncSession, vehicle: str, t: int) -> bool:
    for table, col in ((TrackedTrip, TrackedTrip.start_ms), (TrackedStop, TrackedStop.start_ms),
                       (GeofenceEvent, GeofenceEvent.at_ms)):  # fmt: skip
        if await session.scalar(select(col).where(table.vehicle == vehicle, col >= t).limit(1)):
            return True
    return False


def _item_row(
    table: type[TrackedTrip] | type[TrackedStop], it: Item, vehicle: str, county: str
) -> TrackedTrip | TrackedStop:
    t = it.temp
    row = table(
        vehicle=vehicle, county=county, start_ms=it.start_ms, end_ms=it.end_ms, lat=it.lat,
        lon=it.lon, end_lat=it.end_lat, end_lon=it.end_lon, distance_m=it.distance_m,
        max_speed_kmh=it.max_speed_kmh, avg_speed_kmh=it.avg_speed_kmh, n_fixes=it.n_fixes,
        temp_n=t.n if t else 0, temp_min=t.min if t else None, temp_max=t.max if t else None,
        temp_mean=t.mean if t else None, temp_mkt=t.mkt if t else None,
        temp_covered_s=t.covered_s if t else 0.0, after_gap=it.after_gap,
        end_reason=it.end_reason,
    )  # fmt: skip
    if isinstance(row, TrackedStop):
        row.resume_ms = it.resume_ms
    return row


async def _lock(session: AsyncSession, vehicle: str) -> None:
    """One recompute of a vehicle at a time (PostgreSQL: a transaction advisory lock)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext("logistics.trips:" + vehicle)))
        )


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def recompute_window(
    session: AsyncSession,
    vehicle_device_id: str,
    start: Instant,
    end: Instant,
    fixes_loader: FixesLoader,
    *,
    county: str | None = None,
    trip_params: TripParams | None = None,
    geofence_params: GeofenceParams | None = None,
    lookback_s: float = 86_400.0,
) -> RecomputeResult:
    """Recompute and replace the trips, stops and geofence events of ``vehicle_device_id``
    touched by fixes with fix times in [start, end) (aware datetimes or epoch ms), in
    ``session``'s transaction (the caller commits). ``county``: the vehicle's (default:
    its catalog registration, ``mobile_devices``). Idempotent: run twice, or for any
    window holding the same fixes, it stores the same rows."""
    vehicle = vehicle_device_id
    s_ms, e_ms = to_ms(start, "start"), to_ms(end, "end")
    if e_ms < s_ms:
        raise ValueError(f"end: {e_ms} is before start {s_ms}")
    tp, gp = trip_params or TripParams(), geofence_params or GeofenceParams()
    if county is None:
        county = await session.scalar(
            select(MobileDevice.county).where(MobileDevice.device_id == vehicle)
        )
        if county is None:
            raise ValueError(f"vehicle_device_id: {vehicle!r} is not a registered vehicle")
    await _lock(session, vehicle)
    gap_ms = tp.max_gap_s * 1000.0
    warm_ms = int(max(gp.warmup_s * 1000, gap_ms))
    origin = await _origin(session, vehicle, s_ms)
    lo = (origin if origin is not None else s_ms - int(lookback_s * 1000)) - warm_ms
    chunk = int(2 * gap_ms)
    hi = max(e_ms, s_ms + 1) + chunk
    fixes = list(await fixes_loader(vehicle, lo, hi))
    if origin is None:
        origin = _origin_from_fixes(fixes, s_ms, gap_ms)
    fences = await load_fences(session)
    g_start = origin - int(gp.warmup_s * 1000)
    before = _states({}, await _stored_events(session, vehicle, None, g_start))
    at_origin = _states({}, await _stored_events(session, vehicle, None, origin))
    while True:
        full = track_of(fixes, tp.max_accuracy_m)
        an = analyse_track(full, series_of(fixes, tp.temp_key), tp, origin_ms=origin)
        warm = full.take(full.t >= g_start)
        events, _ = fence_events(
            warm, fences, gp, initial=before, emit_from_ms=origin, max_gap_s=tp.max_gap_s
        )
        last = int(an.track.t[-1]) if len(an.track) else None
        cut: int | None = None
        if last is None or last < hi - gap_ms:
            cut = hi
        else:
            cut = await _sync_stop(session, vehicle, an, e_ms)
        if cut is not None:
            old = _states(at_origin, await _stored_events(session, vehicle, origin, cut))
            new = _states(
                at_origin, [(e.fence_id, e.kind, e.at_ms) for e in events if e.at_ms < cut]
            )
            if old == new:
                break
        more = list(await fixes_loader(vehicle, hi, hi + chunk))
        if not more and not await _has_rows_after(session, vehicle, hi):
            cut = None
            break
        fixes.extend(more)
        hi += chunk
        chunk *= 2
    return await _replace(session, vehicle, county, origin, cut, an, events, tp, len(fixes))


async def _replace(
    session: AsyncSession,
    vehicle: str,
    county: str,
    origin: int,
    cut: int | None,
    an: Analysis,
    events: list[FenceEvent],
    tp: TripParams,
    n_fixes: int,
) -> RecomputeResult:
    def within(col):  # type: ignore[no-untyped-def]
        cond = col >= origin
        return cond if cut is None else cond & (col < cut)

    old_trips = select(TrackedTrip.id).where(
        TrackedTrip.vehicle == vehicle, within(TrackedTrip.start_ms)
    )
    await session.execute(delete(TripTrack).where(TripTrack.trip_id.in_(old_trips)))
    await session.execute(
        delete(TrackedTrip).where(TrackedTrip.vehicle == vehicle, within(TrackedTrip.start_ms))
    )
    await session.execute(
        delete(TrackedStop).where(TrackedStop.vehicle == vehicle, within(TrackedStop.start_ms))
    )
    found = await session.execute(
        select(GeofenceEvent.fence_id, GeofenceEvent.kind, GeofenceEvent.at_ms).where(
            GeofenceEvent.vehicle == vehicle, within(GeofenceEvent.at_ms)
        )
    )
    old_events = {(f, k, a) for f, k, a in found}
    await session.execute(
        delete(GeofenceEvent).where(GeofenceEvent.vehicle == vehicle, within(GeofenceEvent.at_ms))
    )
    items = [i for i in an.items if cut is None or i.start_ms < cut]
    trips: list[tuple[TrackedTrip, Item]] = []
    n_stops = 0
    for it in items:
        row = _item_row(TrackedTrip if it.kind == "trip" else TrackedStop, it, vehicle, county)
        session.add(row)
        if isinstance(row, TrackedTrip):
            trips.append((row, it))
        else:
            n_stops += 1
    kept = [e for e in events if cut is None or e.at_ms < cut]
    ev_rows = [
        GeofenceEvent(
            vehicle=vehicle,
            county=county,
            fence_id=e.fence_id,
            location_id=e.location_id,
            kind=e.kind,
            at_ms=e.at_ms,
            since_ms=e.since_ms,
            lat=e.lat,
            lon=e.lon,
        )
        for e in kept
    ]
    session.add_all(ev_rows)
    await session.flush()
    spans = [(it.first, it.last) for _, it in trips]
    for (row, _), pts in zip(trips, trips_points(an.track, an.temps, spans, tp), strict=True):
        session.add(TripTrack(trip_id=row.id, n=len(pts), data=pack(pts)))
    await session.flush()
    new_enters = 0
    for row in ev_rows:
        if row.kind != "enter" or (row.fence_id, row.kind, row.at_ms) in old_events:
            continue
        new_enters += 1
        if row.location_id is not None:
            await hooks.fire(
                session,
                hooks.EnterEvent(
                    row.id, vehicle, county, row.fence_id, row.location_id, _utc(row.at_ms),
                    _utc(row.since_ms), row.lat, row.lon,
                ),
            )  # fmt: skip
    return RecomputeResult(
        vehicle, origin, cut, n_fixes, len(trips), n_stops, len(ev_rows), new_enters
    )
