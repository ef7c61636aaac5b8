"""The trips package's console providers (``cloud.logistics.console.providers``):
``trips`` (recent tracked trips), ``replay`` (a tracked trip in the console's replay
contract) and ``geofences`` (the fences, as the map draws them). Registered by
:func:`register` from ``cloud.logistics.router.install``.

Each provider filters by ``call.counties``; the console filters again (isolation does
not depend on this module).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cloud.logistics.console.providers import Call, register_provider
from cloud.logistics.trips.storage import Geofence, TrackedTrip, TripTrack
from cloud.logistics.trips.track import for_display, unpack

#: Most trips the ``trips`` provider lists (newest first), and replay points answered.
RECENT = 200
REPLAY_POINTS = 5_000


def _iso(ms: int | None) -> str | None:
    from datetime import UTC, datetime

    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def trips(call: Call) -> list[dict[str, Any]]:
    q = select(TrackedTrip)
    if call.counties is not None:
        q = q.where(TrackedTrip.county.in_(call.counties))
    async with call.db.session() as s:
        rows = await s.scalars(q.order_by(TrackedTrip.start_ms.desc()).limit(RECENT))
        return [
            {"id": r.id, "county": r.county, "vehicle": r.vehicle,
             "started_at": _iso(r.start_ms), "ended_at": _iso(r.end_ms),
             "distance_m": r.distance_m, "n_fixes": r.n_fixes}
            for r in rows
        ]  # fmt: skip


def _col(values: Any, digits: int) -> list[float | None]:
    return [None if v != v else round(float(v), digits) for v in values.tolist()]


async def replay(call: Call, trip_id: object) -> dict[str, Any] | None:
    """The stored (simplified) track of tracked trip ``trip_id``, at most
    :data:`REPLAY_POINTS` points: ``t`` epoch ms, ``speed`` km/h, ``temp`` the reefer's
    probe ``temp1`` (°C). None: no such trip in the caller's counties, or no track."""
    try:
        tid = int(str(trip_id))
    except ValueError:
        return None
    async with call.db.session() as s:
        trip = await s.get(TrackedTrip, tid)
        if trip is None or not call.can_see(trip.county):
            return None
        track = await s.get(TripTrack, tid)
        if track is None:
            return None
        pts = for_display(unpack(track.data, track.n), REPLAY_POINTS)
    return {
        "trip_id": trip.id,
        "county": trip.county,
        "vehicle": trip.vehicle,
        "t": [int(t) for t in pts.t.tolist()],
        "lat": _col(pts.lat, 7),
        "lon": _col(pts.lon, 7),
        "speed": _col(pts.speed, 1),
        "temp": _col(pts.temp, 2),
    }


def _shape(geometry: dict[str, Any]) -> dict[str, Any]:
    if geometry["type"] == "circle":
        lon, lat = geometry["center"]
        return {"type": "circle", "lat": lat, "lon": lon, "radius_m": geometry["radius_m"]}
    return {"type": "polygon", "points": [[lat, lon] for lon, lat in geometry["coordinates"]]}


async def geofences(call: Call) -> list[dict[str, Any]]:
    q = select(Geofence)
    if call.counties is not None:
        q = q.where(Geofence.county.in_(call.counties))
    async with call.db.session() as s:
        rows = await s.scalars(q.order_by(Geofence.id).limit(10_000))
        return [
            {"id": f.id, "county": f.county, "name": f.name,
             "kind": "location" if f.location_id is not None else "base",
             "location_id": f.location_id, "base_id": f.base_id, "shape": _shape(f.geometry)}
            for f in rows
        ]  # fmt: skip


def register() -> None:
    register_provider("trips", trips)
    register_provider("replay", replay)
    register_provider("geofences", geofences)
