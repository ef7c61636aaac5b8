"""The logistics trips API (cloud/logistics/trips/router.py): geofence validation with
field-named errors, the vehicle's trips, stops and events, the replay's columnar points."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from tests.cloud.trips_cases import SPAN, seed_county
from tests.support.api import HOME, ApiEnv, api_env

G = "/api/v1/logistics/geofences"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


@pytest.mark.parametrize(
    ("geometry", "field", "says"),
    [
        ({"type": "circle", "center": [98.5, 24.4], "radius_m": 2}, "body.geometry.radius_m", "10"),
        ({"type": "circle", "center": [98.5, 95], "radius_m": 50}, "body.geometry.center", "lat"),
        ({"type": "polygon", "coordinates": [[98.5, 24.4], [98.6, 24.4], [98.6, 24.5]]},
         "body.geometry.coordinates", "closed"),
        ({"type": "polygon", "coordinates": [[98.5, 24.4], [98.51, 24.41], [98.51, 24.4],
                                             [98.5, 24.41], [98.5, 24.4]]},
         "body.geometry.coordinates", "crosses itself"),
        ({"type": "square"}, "body.geometry", ""),
    ],
)  # fmt: skip
async def test_bad_geometry_is_a_422_naming_the_field(
    env: ApiEnv, geometry: dict, field: str, says: str
) -> None:
    rec = await seed_county(env, HOME)
    h = await env.headers(Role.DISPATCHER, HOME)
    async with env.db.transaction() as s:
        from cloud.logistics.trips.storage import Geofence

        await s.execute(Geofence.__table__.delete())
    r = await env.client.post(G, json={"location_id": rec["location"], "geometry": geometry},
                              headers=h)  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field) and says in r.json()["detail"], r.json()


async def test_a_dispatcher_manages_geofences(env: ApiEnv) -> None:
    rec = await seed_county(env, HOME)
    h = await env.headers(Role.DISPATCHER, HOME)
    body = {"location_id": rec["location"],
            "geometry": {"type": "circle", "center": [98.58, 24.43], "radius_m": 120}}  # fmt: skip
    r = await env.client.post(G, json=body, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "body.location_id"
    r = await env.client.post(G, json={**body, "base_id": 1}, headers=h)
    assert r.status_code == 422 and r.json()["field"].endswith("location_id")
    square = [[98.57, 24.42], [98.59, 24.42], [98.59, 24.44], [98.57, 24.44], [98.57, 24.42]]
    r = await env.client.patch(f"{G}/{rec['fence']}", headers=h,
                               json={"geometry": {"type": "polygon", "coordinates": square}})  # fmt: skip
    assert r.status_code == 200 and r.json()["geometry"]["type"] == "polygon"
    assert (await env.client.delete(f"{G}/{rec['fence']}", headers=h)).status_code == 204
    assert (await env.client.get(f"{G}/{rec['fence']}", headers=h)).status_code == 404
    r = await env.client.get("/api/v1/audit", headers=await env.headers(Role.COUNTY_ADMIN, HOME))
    actions = {e["action"] for e in r.json()}
    assert {"geofence.updated", "geofence.deleted"} <= actions


async def test_trips_stops_events_and_replay(env: ApiEnv) -> None:
    rec = await seed_county(env, HOME)
    h = await env.headers(Role.DISPATCHER, HOME)
    base = f"/api/v1/logistics/vehicles/{rec['vehicle']}"
    trips = (await env.client.get(f"{base}/trips", params=SPAN, headers=h)).json()["items"]
    stops = (await env.client.get(f"{base}/stops", params=SPAN, headers=h)).json()["items"]
    events = (await env.client.get(f"{base}/geofence-events", params=SPAN, headers=h)).json()
    assert len(trips) == 2 and len(stops) == 1
    assert trips[0]["end"] == stops[0]["start"] and stops[0]["temp1"]["max"] == 9.0
    assert 24_000 < trips[0]["distance_m"] < 26_000 and trips[0]["max_speed_kmh"] == 50.0
    assert [e["kind"] for e in events["items"]] == ["enter", "exit"]
    assert events["items"][0]["location_id"] == rec["location"]
    r = await env.client.get(f"{base}/trips", params={"start": "2026-01-01T00:00:00"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "query.start"

    r = await env.client.get(f"/api/v1/logistics/tracked-trips/{rec['trip']}/replay", headers=h)
    assert r.status_code == 200
    body = r.json()
    n = body["n"]
    assert n == len(body["t"]) == len(body["lat"]) == len(body["temp1"]) == body["n_stored"]
    assert 2 <= n < body["n_fixes"] == trips[0]["n_fixes"] and body["t"][0] == 0
    assert body["t"] == sorted(body["t"])
    assert min(body["temp1"]) == pytest.approx(3.0, abs=0.01)  # the extreme is kept
    r = await env.client.get(f"/api/v1/logistics/tracked-trips/{rec['trip']}/replay",
                             params={"max_points": 4}, headers=h)  # fmt: skip
    small = r.json()
    assert small["n"] == 4 and small["t"][0] == 0 and small["t"][-1] == body["t"][-1]
    assert min(small["temp1"]) == min(body["temp1"]) and max(small["temp1"]) == max(body["temp1"])
    r = await env.client.get(f"/api/v1/logistics/tracked-trips/{rec['trip']}/replay",
                             params={"max_points": 1}, headers=h)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "query.max_points"
