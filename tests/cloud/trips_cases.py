"""Records and cases of the logistics trips API (cloud/logistics/trips): a registered
vehicle per county with a recomputed day (a drive, a stop at a geofenced cold store, a
drive), ``TRIPS_CASES`` (tests/cloud/test_api_isolation.py) and ``TRIPS_REQUESTS``
(tests/cloud/test_api_roles.py)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from cloud.catalog.storage import Location, MobileDevice
from cloud.logistics.trips.fixes import Fix, memory_fixes_loader
from cloud.logistics.trips.recompute import recompute_window
from cloud.logistics.trips.storage import Geofence, TrackedTrip
from tests.cloud.catalog_support import gln
from tests.support.api import HOME, OTHER, T0, ApiEnv
from tests.support.trace_records import add_org

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
SPAN = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
#: The cold store's centre, where the day's stop is.
STORE = (24.43, 98.58)


def day_fixes(
    t0: int = T0, *, hz: float = 1.0, drive_s: int = 1800, park_s: int = 600
) -> list[Fix]:
    """A drive north to the cold store at 50 km/h, a stop there, a drive on; temp1 4-6 °C
    (a peak of 9 °C while parked: the door open)."""
    out: list[Fix] = []
    step = 1000 / hz
    n_drive = int(drive_s * hz)
    v = 50 / 3.6
    lat0 = STORE[0] - n_drive * v / hz / 111_000
    t = t0
    lat = lat0
    for i in range(n_drive):
        out.append(Fix(int(t), lat, STORE[1], 50.0, 5.0, {"temp1": 4.0 + math.sin(i / 300)}))
        lat += v / hz / 111_000
        t += step
    for i in range(int(park_s * hz)):
        temp = 9.0 if i == int(park_s * hz) // 2 else 5.0
        out.append(Fix(int(t), STORE[0] + 1e-5 * math.sin(i), STORE[1], 0.0, 5.0, {"temp1": temp}))
        t += step
    for i in range(n_drive):
        lat += v / hz / 111_000
        out.append(Fix(int(t), lat, STORE[1], 50.0, 5.0, {"temp1": 4.5 + math.cos(i / 300)}))
        t += step
    return out


async def seed_county(env: ApiEnv, county: str) -> dict[str, int | str]:
    """A vehicle ``tracked-truck-{county}``, a cold store with a 150 m geofence, and the day
    recomputed (made once per database)."""
    vehicle = f"tracked-truck-{county}"
    async with env.db.transaction() as s:
        found = await s.scalar(select(Geofence).where(Geofence.county == county))
        if found is not None:
            trip = await s.scalar(select(TrackedTrip.id).where(TrackedTrip.vehicle == vehicle))
            return {"vehicle": vehicle, "fence": found.id, "location": found.location_id,
                    "trip": int(trip)}  # type: ignore[arg-type]  # fmt: skip
    org = await add_org(env, county, 760)
    async with env.db.transaction() as s:
        loc = Location(kind="cold_room", name=f"冷库 {county}", county=county, org_id=org.id,
                       gln=gln(760_000 + int(county[-3:])), created_by="test")  # fmt: skip
        s.add(loc)
        s.add(MobileDevice(device_id=vehicle, kind="vehicle", org_id=org.id, county=county,
                           registered_by="test"))  # fmt: skip
        await s.flush()
        fence = Geofence(county=county, name=loc.name, location_id=loc.id, created_by="test",
                         geometry={"type": "circle", "center": [STORE[1], STORE[0]],
                                   "radius_m": 150.0})  # fmt: skip
        s.add(fence)
        await s.flush()
        fixes = day_fixes()
        await recompute_window(s, vehicle, fixes[0].t_ms, fixes[-1].t_ms + 1,
                               memory_fixes_loader({vehicle: fixes}))  # fmt: skip
        trip = await s.scalar(select(TrackedTrip.id).where(TrackedTrip.vehicle == vehicle))
        return {"vehicle": vehicle, "fence": fence.id, "location": loc.id, "trip": int(trip)}  # type: ignore[arg-type]


# ------------------------------------------------------------------- county isolation


async def _both(env: ApiEnv) -> tuple[dict[str, int | str], dict[str, int | str]]:
    return await seed_county(env, HOME), await seed_county(env, OTHER)


async def fences_list(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    r = await env.client.get("/api/v1/logistics/geofences", headers=h)
    assert r.status_code == 200, r.text
    ids = {f["id"] for f in r.json()["items"]}
    assert mine["fence"] in ids and theirs["fence"] not in ids
    r = await env.client.get("/api/v1/logistics/geofences", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def fence_get(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    assert (
        await env.client.get(f"/api/v1/logistics/geofences/{mine['fence']}", headers=h)
    ).status_code == 200
    assert (
        await env.client.get(f"/api/v1/logistics/geofences/{theirs['fence']}", headers=h)
    ).status_code == 404


async def fence_post(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    r = await env.client.post("/api/v1/logistics/geofences", headers=h, json={
        "location_id": theirs["location"],
        "geometry": {"type": "circle", "center": [98.6, 24.4], "radius_m": 100}})  # fmt: skip
    assert r.status_code == 404, r.text


async def fence_patch(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    r = await env.client.patch(f"/api/v1/logistics/geofences/{theirs['fence']}", headers=h,
                               json={"name": "x"})  # fmt: skip
    assert r.status_code == 404, r.text


async def fence_delete(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    r = await env.client.delete(f"/api/v1/logistics/geofences/{theirs['fence']}", headers=h)
    assert r.status_code == 404, r.text


def _vehicle_case(suffix: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        mine, theirs = await _both(env)
        r = await env.client.get(f"/api/v1/logistics/vehicles/{mine['vehicle']}/{suffix}",
                                 params=SPAN, headers=h)  # fmt: skip
        assert r.status_code == 200 and r.json()["items"], r.text
        r = await env.client.get(f"/api/v1/logistics/vehicles/{theirs['vehicle']}/{suffix}",
                                 params=SPAN, headers=h)  # fmt: skip
        assert r.status_code == 404, r.text

    return case


async def replay_get(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    assert (
        await env.client.get(f"/api/v1/logistics/tracked-trips/{mine['trip']}/replay", headers=h)
    ).status_code == 200
    assert (
        await env.client.get(f"/api/v1/logistics/tracked-trips/{theirs['trip']}/replay", headers=h)
    ).status_code == 404


TRIPS_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/logistics/geofences"): fences_list,
    ("GET", "/api/v1/logistics/geofences/{fence_id}"): fence_get,
    ("POST", "/api/v1/logistics/geofences"): fence_post,
    ("PATCH", "/api/v1/logistics/geofences/{fence_id}"): fence_patch,
    ("DELETE", "/api/v1/logistics/geofences/{fence_id}"): fence_delete,
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/trips"): _vehicle_case("trips"),
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/stops"): _vehicle_case("stops"),
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/geofence-events"): _vehicle_case(
        "geofence-events"
    ),
    ("GET", "/api/v1/logistics/tracked-trips/{trip_id}/replay"): replay_get,
}

# ---------------------------------------------------------------- roles x endpoints


async def _home(env: ApiEnv) -> dict[str, int | str]:
    return await seed_county(env, HOME)


async def _new_location(env: ApiEnv) -> int:
    org = await add_org(env, HOME, 761)
    async with env.db.transaction() as s:
        n = len((await s.scalars(select(Location.id))).all())
        loc = Location(kind="customer_site", name="客户", county=HOME, org_id=org.id,
                       gln=gln(761_000 + n), created_by="test")  # fmt: skip
        s.add(loc)
        await s.flush()
        return loc.id


async def _post(env: ApiEnv, h: Headers) -> httpx.Response:
    loc = await _new_location(env)
    return await env.client.post("/api/v1/logistics/geofences", headers=h, json={
        "location_id": loc, "geometry": {"type": "circle", "center": [98.6, 24.4], "radius_m": 80}})  # fmt: skip


async def _on_new_fence(env: ApiEnv, h: Headers, method: str) -> httpx.Response:
    loc = await _new_location(env)
    async with env.db.transaction() as s:
        f = Geofence(county=HOME, name="x", location_id=loc, created_by="test",
                     geometry={"type": "circle", "center": [98.6, 24.4], "radius_m": 80})  # fmt: skip
        s.add(f)
        await s.flush()
        fid = f.id
    if method == "PATCH":
        return await env.client.patch(f"/api/v1/logistics/geofences/{fid}", json={"name": "y"},
                                      headers=h)  # fmt: skip
    return await env.client.delete(f"/api/v1/logistics/geofences/{fid}", headers=h)


async def _get(env: ApiEnv, h: Headers, path: str) -> httpx.Response:
    rec = await _home(env)
    return await env.client.get(path.format(**rec), params=SPAN, headers=h)


TRIPS_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("GET", "/api/v1/logistics/geofences"): lambda e, h: _get(e, h, "/api/v1/logistics/geofences"),
    ("GET", "/api/v1/logistics/geofences/{fence_id}"): lambda e, h: _get(
        e, h, "/api/v1/logistics/geofences/{fence}"
    ),
    ("POST", "/api/v1/logistics/geofences"): _post,
    ("PATCH", "/api/v1/logistics/geofences/{fence_id}"): lambda e, h: _on_new_fence(e, h, "PATCH"),
    ("DELETE", "/api/v1/logistics/geofences/{fence_id}"): lambda e, h: _on_new_fence(
        e, h, "DELETE"
    ),
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/trips"): lambda e, h: _get(
        e, h, "/api/v1/logistics/vehicles/{vehicle}/trips"
    ),
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/stops"): lambda e, h: _get(
        e, h, "/api/v1/logistics/vehicles/{vehicle}/stops"
    ),
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/geofence-events"): lambda e, h: _get(
        e, h, "/api/v1/logistics/vehicles/{vehicle}/geofence-events"
    ),
    ("GET", "/api/v1/logistics/tracked-trips/{trip_id}/replay"): lambda e, h: _get(
        e, h, "/api/v1/logistics/tracked-trips/{trip}/replay"
    ),
}
