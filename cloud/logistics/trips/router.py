"""``/api/v1/logistics``: geofences (CRUD), a vehicle's trips, stops and geofence events,
and a trip's replay. County-scoped: another county's record or vehicle is 404.
Reads: ``positions:read``; geofence writes: ``geofences:write`` (the county's
dispatchers and admins), in the county of the location or base the fence belongs to.
``{vehicle}`` is the vehicle's device id (its registration in ``/mobile-devices``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import numpy as np
import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.storage import Location, MobileDevice, ProductionBase
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import ApiError, responses
from cloud.logistics.trips import service
from cloud.logistics.trips.schemas import (
    EventList,
    EventOut,
    GeofenceCreate,
    GeofenceOut,
    GeofencePage,
    GeofenceUpdate,
    ItemList,
    ItemOut,
    TempOut,
)
from cloud.logistics.trips.storage import (
    Geofence,
    GeofenceEvent,
    TrackedStop,
    TrackedTrip,
    TripTrack,
)
from cloud.logistics.trips.track import for_display, unpack
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(prefix="/logistics", tags=["logistics"])

Read = Annotated[Principal, require("positions:read")]
Write = Annotated[Principal, require("geofences:write")]
Ident = Annotated[int, Path(ge=1, le=MAX_INT32)]
Vehicle = Annotated[str, Path(min_length=1, max_length=128)]
MAX_SPAN = timedelta(days=31)
FENCE_KEYS = (Key(Geofence.id, kind=int),)


def _fence_out(f: Geofence) -> GeofenceOut:
    return GeofenceOut(
        id=f.id, county=f.county, name=f.name, location_id=f.location_id, base_id=f.base_id,
        geometry=f.geometry, created_at=f.created_at, updated_at=f.updated_at,
    )  # fmt: skip


async def _fence(s: SessionDep, principal: Principal, fence_id: int) -> Geofence:
    f = await s.get(Geofence, fence_id)
    if f is None or not principal.can_see(f.county):
        raise ApiError(404, f"geofence {fence_id} not found", field="path.fence_id")
    return f


@router.get("/geofences", response_model=GeofencePage, responses=responses(401, 403, 422),
            summary="Geofences of the counties you can see, by id (keyset pages)")  # fmt: skip
async def list_geofences(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: Annotated[str | None, Query(description="Only this county")] = None,
) -> GeofencePage:
    counties = principal.counties(county)
    q = select(Geofence)
    if counties is not None:
        q = q.where(Geofence.county.in_(counties))
    found = await fetch_page(session, q, FENCE_KEYS, page)
    link_next(request, response, found.next_cursor)
    return GeofencePage(items=[_fence_out(f) for f in found.rows])


@router.get("/geofences/{fence_id}", response_model=GeofenceOut, responses=responses(401, 404),
            summary="One geofence")  # fmt: skip
async def get_geofence(fence_id: Ident, principal: Read, session: SessionDep) -> GeofenceOut:
    return _fence_out(await _fence(session, principal, fence_id))


@router.post("/geofences", response_model=GeofenceOut, status_code=201,
             responses=responses(401, 403, 404, 409, 422),
             summary="A geofence (circle or polygon) around a catalog location or base")  # fmt: skip
async def create_geofence(body: GeofenceCreate, principal: Write, db: DatabaseDep) -> GeofenceOut:
    async with db.transaction() as s:
        if body.location_id is not None:
            place: Location | ProductionBase | None = await s.get(Location, body.location_id)
            field = "body.location_id"
        else:
            place = await s.get(ProductionBase, body.base_id)
            field = "body.base_id"
        if place is None or not principal.can_see(place.county):
            raise ApiError(404, f"{field.split('.')[1].removesuffix('_id')} not found", field=field)
        principal.require_write(place.county)
        if await service.taken(s, body.location_id, body.base_id):
            raise ApiError(409, "this location or base has a geofence already; PATCH it",
                           field=field)  # fmt: skip
        fence = await service.create(
            s, county=place.county, name=body.name or place.name, location_id=body.location_id,
            base_id=body.base_id, geometry=body.geometry, actor=principal.actor,
        )  # fmt: skip
        return _fence_out(fence)


@router.patch("/geofences/{fence_id}", response_model=GeofenceOut,
              responses=responses(401, 403, 404, 422),
              summary="Change a geofence's name or geometry")  # fmt: skip
async def update_geofence(
    fence_id: Ident, body: GeofenceUpdate, principal: Write, db: DatabaseDep
) -> GeofenceOut:
    async with db.transaction() as s:
        fence = await _fence(s, principal, fence_id)
        principal.require_write(fence.county)
        changes = {k: getattr(body, k) for k in body.model_fields_set}
        return _fence_out(await service.update(s, fence, changes, principal.actor))


@router.delete("/geofences/{fence_id}", status_code=204, responses=responses(401, 403, 404),
               summary="Delete a geofence (its past events stay)")  # fmt: skip
async def delete_geofence(fence_id: Ident, principal: Write, db: DatabaseDep) -> Response:
    async with db.transaction() as s:
        fence = await _fence(s, principal, fence_id)
        principal.require_write(fence.county)
        await service.remove(s, fence, principal.actor)
    return Response(status_code=204)


# ------------------------------------------------------------------ vehicles' results


async def _vehicle(s: SessionDep, principal: Principal, vehicle: str) -> None:
    county = await s.scalar(select(MobileDevice.county).where(MobileDevice.device_id == vehicle))
    if county is None or not principal.can_see(county):
        raise ApiError(404, f"vehicle {vehicle!r} not found", field="path.vehicle")


def _ms(v: datetime, name: str) -> int:
    try:
        return round(v.astimezone(UTC).timestamp() * 1000)
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise ApiError(422, f"{name}: {v.isoformat()} is outside the calendar in UTC",
                       field=f"query.{name}") from None  # fmt: skip


def _span(start: datetime | None, end: datetime | None) -> tuple[int, int]:
    for name, v in (("start", start), ("end", end)):
        if v is not None and v.tzinfo is None:
            raise ApiError(
                422, f"{name}: give a time zone (ISO 8601, e.g. Z)", field=f"query.{name}"
            )
    hi = _ms(end, "end") if end is not None else round(time.time() * 1000)
    lo = _ms(start, "start") if start is not None else hi - 86_400_000
    if lo < -62_135_596_800_000:  # the default start, a day before an end on 0001-01-01
        raise ApiError(422, "end: too early to have a day before it", field="query.end")
    if hi <= lo:
        raise ApiError(422, "end must be after start", field="query.end")
    if hi - lo > MAX_SPAN.total_seconds() * 1000:
        raise ApiError(422, "at most 31 days at a time", field="query.end")
    return lo, hi


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _item_out(r: TrackedTrip | TrackedStop) -> ItemOut:
    temp = None
    if r.temp_n:
        temp = TempOut(n=r.temp_n, min=r.temp_min, max=r.temp_max, mean=r.temp_mean,
                       mkt=r.temp_mkt, covered_s=r.temp_covered_s)  # fmt: skip
    return ItemOut(
        id=r.id, vehicle=r.vehicle, start=_dt(r.start_ms), end=_dt(r.end_ms),
        duration_s=(r.end_ms - r.start_ms) / 1000, lat=r.lat, lon=r.lon, end_lat=r.end_lat,
        end_lon=r.end_lon, distance_m=r.distance_m, max_speed_kmh=r.max_speed_kmh,
        avg_speed_kmh=r.avg_speed_kmh, n_fixes=r.n_fixes, temp1=temp, after_gap=r.after_gap,
        end_reason=r.end_reason,  # type: ignore[arg-type]
    )  # fmt: skip


StartQ = Annotated[datetime | None, Query(description="ISO 8601 with a zone; default end - 24 h")]
EndQ = Annotated[datetime | None, Query(description="ISO 8601 with a zone; default now")]


async def _items(
    table: type[TrackedTrip] | type[TrackedStop], principal: Principal, s: SessionDep, vehicle: str,
    start: datetime | None, end: datetime | None,
) -> ItemList:  # fmt: skip
    lo, hi = _span(start, end)
    await _vehicle(s, principal, vehicle)
    q = select(table).where(table.vehicle == vehicle, table.end_ms >= lo, table.start_ms < hi)
    counties = principal.counties()
    if counties is not None:
        q = q.where(table.county.in_(counties))
    rows = await s.scalars(q.order_by(table.start_ms).limit(10_000))
    return ItemList(items=[_item_out(r) for r in rows])


@router.get("/vehicles/{vehicle}/trips", response_model=ItemList, responses=responses(401, 404, 422),
            summary="A vehicle's trips overlapping [start, end), by fix time")  # fmt: skip
async def trips(vehicle: Vehicle, principal: Read, session: SessionDep, start: StartQ = None,
                end: EndQ = None) -> ItemList:  # fmt: skip
    return await _items(TrackedTrip, principal, session, vehicle, start, end)


@router.get("/vehicles/{vehicle}/stops", response_model=ItemList, responses=responses(401, 404, 422),
            summary="A vehicle's stops overlapping [start, end)")  # fmt: skip
async def stops(vehicle: Vehicle, principal: Read, session: SessionDep, start: StartQ = None,
                end: EndQ = None) -> ItemList:  # fmt: skip
    return await _items(TrackedStop, principal, session, vehicle, start, end)


@router.get("/vehicles/{vehicle}/geofence-events", response_model=EventList,
            responses=responses(401, 404, 422),
            summary="A vehicle's geofence enter/exit events in [start, end)")  # fmt: skip
async def geofence_events(vehicle: Vehicle, principal: Read, session: SessionDep,
                          start: StartQ = None, end: EndQ = None) -> EventList:  # fmt: skip
    lo, hi = _span(start, end)
    await _vehicle(session, principal, vehicle)
    q = select(GeofenceEvent).where(
        GeofenceEvent.vehicle == vehicle, GeofenceEvent.at_ms >= lo, GeofenceEvent.at_ms < hi
    )
    counties = principal.counties()
    if counties is not None:
        q = q.where(GeofenceEvent.county.in_(counties))
    rows = await session.scalars(q.order_by(GeofenceEvent.at_ms, GeofenceEvent.id).limit(10_000))
    return EventList(
        items=[
            EventOut(
                id=e.id,
                vehicle=e.vehicle,
                fence_id=e.fence_id,
                location_id=e.location_id,
                kind=e.kind,
                at=_dt(e.at_ms),
                since=_dt(e.since_ms),
                lat=e.lat,  # type: ignore[arg-type]
                lon=e.lon,
            )
            for e in rows
        ]
    )


def _col(a: np.ndarray, digits: int) -> list[float | None]:
    out = np.round(a.astype(np.float64), digits)
    return [None if v != v else v for v in out.tolist()]


@router.get(
    "/tracked-trips/{trip_id}/replay",
    responses={**responses(401, 404, 422), 200: {"description": "Columnar JSON: t (ms from t0), lat, lon, speed_kmh, temp1"}},
    summary="A trip's points for replay, temperature per point (columnar)",
)  # fmt: skip
async def replay(
    trip_id: Ident,
    principal: Read,
    session: SessionDep,
    max_points: Annotated[int, Query(ge=2, le=50_000, description="At most this many points: "
                                     "the most significant (Douglas–Peucker, temperature extremes kept)")] = 5_000,
) -> Response:  # fmt: skip
    began = time.perf_counter()
    trip = await session.get(TrackedTrip, trip_id)
    if trip is None or not principal.can_see(trip.county):
        raise ApiError(404, f"trip {trip_id} not found", field="path.trip_id")
    track = await session.get(TripTrack, trip_id)
    if track is None:
        raise ApiError(404, f"trip {trip_id} has no track", field="path.trip_id")
    pts = for_display(unpack(track.data, track.n), max_points)
    body = {
        "trip_id": trip.id,
        "vehicle": trip.vehicle,
        "start": _dt(trip.start_ms).isoformat().replace("+00:00", "Z"),
        "end": _dt(trip.end_ms).isoformat().replace("+00:00", "Z"),
        "n_fixes": trip.n_fixes,
        "n_stored": track.n,
        "n": len(pts),
        "max_points": max_points,
        "t0_ms": trip.start_ms,
        "t": (pts.t - trip.start_ms).tolist(),
        "lat": _col(pts.lat, 7),
        "lon": _col(pts.lon, 7),
        "speed_kmh": _col(pts.speed, 1),
        "temp1": _col(pts.temp, 2),
    }
    data = orjson.dumps(body)
    ms = (time.perf_counter() - began) * 1000
    return Response(
        data, media_type="application/json", headers={"Server-Timing": f"app;dur={ms:.1f}"}
    )
