"""Phones through the OsmAnd endpoint into the time series and back (issue 13,
"Positions, by MQTT and by phone"): trackers (dispatcher), the query and JSON forms,
speed units, filters counted, batches with their limit, windows touched by fix time,
tracks, unknown and revoked ids, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.logistics.positions import dirty, tracks
from cloud.logistics.positions.osmand import osmand_app
from tests.cloud.positions_support import add_vehicle
from tests.support.api import HOME, OTHER, ApiEnv, api_env

TRUCK = "truck-ms-001"
OSMAND = "/api/v1/logistics/osmand"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        await add_vehicle(e, TRUCK, HOME)
        yield e


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def _tracker(env: ApiEnv, **body: object) -> dict:
    h = await env.headers(Role.DISPATCHER, HOME)
    r = await env.client.post(
        "/api/v1/logistics/trackers", json={"vehicle": TRUCK, **body}, headers=h
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _positions(env: ApiEnv, start: int, end: int) -> list[dict]:
    h = await env.headers(Role.DISPATCHER, HOME)
    r = await env.client.get(
        f"/api/v1/logistics/vehicles/{TRUCK}/positions",
        params={"start": iso(start), "end": iso(end)},
        headers=h,
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_phone_fixes_are_stored_and_read_back(env: ApiEnv) -> None:
    t = await _tracker(env)
    device_id = t["device_id"]
    assert len(device_id) >= 20 and device_id not in str(await _list(env))
    assert t["config_uri"].startswith("org.traccar.client://config?")
    assert "<svg" in t["qr_svg"]
    now = int(time.time() * 1000) // 1000 * 1000
    # query form: OsmAnd's m/s by default; a reefer probe as an attribute
    r = await env.client.get(
        OSMAND,
        params={"id": device_id, "lat": "24.4330", "lon": "98.5850", "timestamp": str(now // 1000),
                "speed": "10", "bearing": "45", "altitude": "900", "accuracy": "6",
                "batt": "80", "charge": "false", "temp1": "4.5"},
    )  # fmt: skip
    assert (r.status_code, r.text) == (200, "")
    # Traccar Client's JSON form
    body = {"device_id": device_id, "location": {
        "timestamp": iso(now + 10_000),
        "coords": {"latitude": 24.4335, "longitude": 98.5855, "speed": 5, "heading": 50,
                   "accuracy": 4, "altitude": 905},
        "battery": {"level": 0.79, "is_charging": True}, "is_moving": True,
        "extras": {"temp1": 4.7}}}  # fmt: skip
    r = await env.client.post(OSMAND, json=body)
    assert (r.status_code, r.text) == (200, "")
    items = await _positions(env, now - 60_000, now + 60_000)
    assert [i["time"] for i in items] == [
        iso(now).replace("Z", ".000Z"),
        iso(now + 10_000).replace("Z", ".000Z"),
    ]
    a, b = items
    assert (a["lat"], a["lon"], a["speed_kmh"], a["course_deg"]) == (24.433, 98.585, 36.0, 45.0)
    assert (a["alt_m"], a["accuracy_m"], a["battery_pct"], a["charging"]) == (
        900.0,
        6.0,
        80.0,
        False,
    )
    assert a["attributes"] == {"temp1": 4.5}
    assert b["speed_kmh"] == pytest.approx(18.0) and b["charging"] is True
    assert b["attributes"] == {"temp1": 4.7, "motion": 1.0}
    # the hour the fixes fell in is marked for the consumers, by fix time
    async with env.db.session() as s:
        windows = await dirty.touched_windows(s, "trips", device=TRUCK)
    assert {w.start_ms for w in windows} == {dirty.window_of(now), dirty.window_of(now + 10_000)}
    assert all(w.county == HOME for w in windows)


async def _list(env: ApiEnv) -> dict:
    h = await env.headers(Role.DISPATCHER, HOME)
    r = await env.client.get("/api/v1/logistics/trackers", headers=h)
    assert r.status_code == 200
    return r.json()


async def test_speed_unit_per_tracker(env: ApiEnv) -> None:
    t = await _tracker(env, speed_unit="kn")
    now = int(time.time()) * 1000
    r = await env.client.get(
        OSMAND,
        params={
            "id": t["device_id"],
            "lat": "24.4",
            "lon": "98.5",
            "timestamp": str(now),
            "speed": "10",
        },
    )
    assert r.status_code == 200, r.text
    (fix,) = await _positions(env, now - 1000, now + 1000)
    assert fix["speed_kmh"] == pytest.approx(18.52)


async def test_unknown_rotated_and_revoked_ids_store_nothing(env: ApiEnv) -> None:
    t = await _tracker(env)
    now = int(time.time()) * 1000
    fix = {"lat": "24.4", "lon": "98.5", "timestamp": str(now)}
    r = await env.client.get(OSMAND, params={"id": "x" * 24, **fix})
    assert (r.status_code, r.json()) == (400, {"detail": "unknown device"})
    h = await env.headers(Role.DISPATCHER, HOME)
    env.app.state.position_intake.settings.tracker_cache_s = 0
    r = await env.client.post(f"/api/v1/logistics/trackers/{t['id']}/rotate", headers=h)
    assert r.status_code == 200, r.text
    new_id = r.json()["device_id"]
    r = await env.client.get(OSMAND, params={"id": t["device_id"], **fix})
    assert (r.status_code, r.json()) == (400, {"detail": "unknown device"})
    r = await env.client.delete(f"/api/v1/logistics/trackers/{t['id']}", headers=h)
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = await env.client.get(OSMAND, params={"id": new_id, **fix})
    assert (r.status_code, r.json()) == (400, {"detail": "unknown device"})
    assert await _positions(env, now - 1000, now + 1000) == []


async def test_filters_are_counted_per_tracker_and_nothing_stored(env: ApiEnv) -> None:
    t = await _tracker(env)
    dev = t["device_id"]
    now = int(time.time()) * 1000
    base = {"id": dev, "lat": "24.40", "lon": "98.50"}
    sends = [
        {**base, "timestamp": str(now - 60_000)},  # accepted
        {**base, "timestamp": str(now - 60_000)},  # duplicate
        {**base, "timestamp": str(now - 50_000), "valid": "false"},  # invalid
        {"id": dev, "lat": "0", "lon": "0", "timestamp": str(now - 40_000)},  # zero
        {**base, "timestamp": str(now + 600_000)},  # future
        {
            "id": dev,
            "lat": "25.40",
            "lon": "98.50",
            "timestamp": str(now - 30_000),
        },  # jump: 111 km in 30 s
        {**base, "timestamp": str(now - 20_000), "accuracy": "500"},  # accuracy
        {**base, "timestamp": str(now - 10_000)},  # accepted
    ]
    for params in sends:
        r = await env.client.get(OSMAND, params=params)
        assert (r.status_code, r.text) == (200, ""), params
    h = await env.headers(Role.DISPATCHER, HOME)
    r = await env.client.get(f"/api/v1/logistics/trackers/{t['id']}", headers=h)
    assert r.json()["counts"] == {
        "accepted": 2, "duplicate": 1, "invalid": 1, "zero": 1, "future": 1, "jump": 1, "accuracy": 1
    }  # fmt: skip
    stored = await _positions(env, now - 120_000, now + 900_000)
    assert [s["time"] for s in stored] == [
        iso(now - 60_000).replace("Z", ".000Z"),
        iso(now - 10_000).replace("Z", ".000Z"),
    ]
    metrics = env.app.state.position_intake.metrics
    assert metrics.filtered["jump"] == 1 and metrics.accepted["query"] == 2


async def test_a_day_offline_in_one_batch_marks_its_windows_by_fix_time(env: ApiEnv) -> None:
    t = await _tracker(env)
    start = (int(time.time()) - 2 * 86_400) * 1000
    locations = [
        {"timestamp": start + i * 10_000,
         "coords": {"latitude": 24.40 + i * 0.00005, "longitude": 98.50, "speed": 5}}
        for i in range(8_640)  # a day at one fix per 10 s
    ]  # fmt: skip
    r = await env.client.post(OSMAND, json={"device_id": t["device_id"], "locations": locations})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 8_640, "filtered": {}}
    async with env.db.session() as s:
        windows = await dirty.touched_windows(s, "trips", device=TRUCK)
    assert len(windows) in (24, 25)  # the hours of the day, not the hour it arrived
    assert min(w.start_ms for w in windows) == dirty.window_of(start)
    # the same batch again: all duplicates, nothing more stored
    r = await env.client.post(OSMAND, json={"device_id": t["device_id"], "locations": locations})
    assert r.json() == {"accepted": 0, "filtered": {"duplicate": 8_640}}
    # claim, then a late fix marks one window again: complete leaves it marked
    async with env.db.transaction() as s:
        claimed = await dirty.claim(s, "trips", worker="t1", limit=1000)
    assert len(claimed) == len(windows)
    async with env.db.transaction() as s:
        assert await dirty.claim(s, "trips", worker="t2") == []  # held by t1
    late = {"timestamp": start + 5, "coords": {"latitude": 24.40, "longitude": 98.50}}
    r = await env.client.post(OSMAND, json={"device_id": t["device_id"], "location": late})
    assert r.status_code == 200, r.text
    async with env.db.transaction() as s:
        assert await dirty.complete(s, "trips", claimed) == len(claimed) - 1
    async with env.db.session() as s:
        left = await dirty.touched_windows(s, "trips", device=TRUCK)
    assert [w.start_ms for w in left] == [dirty.window_of(start)]
    # the tracks job simplifies each touched day (a straight line: its two ends)
    assert await tracks.run_once(env.db, env.tsdb, tolerance_m=10.0) >= 1
    h = await env.headers(Role.DISPATCHER, HOME)
    r = await env.client.get(
        f"/api/v1/logistics/vehicles/{TRUCK}/tracks",
        params={"start": iso(start - 86_400_000), "end": iso(start + 2 * 86_400_000)},
        headers=h,
    )
    assert r.status_code == 200, r.text
    days = r.json()["items"]
    assert sum(d["raw_count"] for d in days) == 8_641
    assert all(len(d["points"]) <= 4 for d in days)


async def test_a_huge_batch_is_refused_and_nothing_stored(env: ApiEnv) -> None:
    t = await _tracker(env)
    env.app.state.position_intake.settings.max_batch_fixes = 100
    now = int(time.time()) * 1000
    locations = [
        {"timestamp": now - 200_000 + i * 1000, "coords": {"latitude": 24.4, "longitude": 98.5}}
        for i in range(101)
    ]
    r = await env.client.post(OSMAND, json={"device_id": t["device_id"], "locations": locations})
    assert r.status_code == 413 and "at most 100" in r.json()["detail"]
    assert r.json()["field"] == "locations"
    assert await _positions(env, now - 300_000, now) == []


async def test_bad_input_over_http_names_the_field_and_stores_nothing(env: ApiEnv) -> None:
    t = await _tracker(env)
    now = int(time.time()) * 1000
    for params, field in (
        ({"lat": "91", "lon": "98.5"}, "lat"),
        ({"lat": "24.4", "lon": "98.5", "speed": "NaN"}, "speed"),
        ({"lat": "24.4", "lon": "98.5", "timestamp": "0"}, "timestamp"),
        ({"lat": "24.4", "lon": "98.5", "timestamp": "2026-05-01T08:00:00"}, "timestamp"),
    ):
        r = await env.client.get(
            OSMAND, params={"id": t["device_id"], "timestamp": str(now), **params}
        )
        assert r.status_code == 400 and r.json()["field"] == field, r.text
        assert r.json()["detail"].startswith(f"{field}: ")
    assert await _positions(env, now - 1000, now + 1000) == []


async def test_own_port_server_takes_fixes_on_any_path(env: ApiEnv) -> None:
    t = await _tracker(env)
    app = osmand_app(env.app.state.position_intake)
    now = int(time.time()) * 1000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as c:
        r = await c.post(
            "/", data={"id": t["device_id"], "lat": "24.4", "lon": "98.5", "timestamp": str(now)}
        )
        assert (r.status_code, r.text) == (200, "")
        r = await c.get("/any/path", params={"id": "z" * 24, "lat": "24.4", "lon": "98.5"})
        assert (r.status_code, r.text) == (400, "unknown device\n")  # Traccar's plain answer
        r = await c.get("/", params={"id": t["device_id"], "lat": "99", "lon": "98.5"})
        assert r.status_code == 400 and r.text.startswith("lat: ")
    assert len(await _positions(env, now - 1000, now + 1000)) == 1


async def test_trackers_and_positions_are_county_scoped(env: ApiEnv) -> None:
    t = await _tracker(env)
    other = await env.headers(Role.DISPATCHER, OTHER)
    r = await env.client.get(f"/api/v1/logistics/trackers/{t['id']}", headers=other)
    assert r.status_code == 404
    r = await env.client.post("/api/v1/logistics/trackers", json={"vehicle": TRUCK}, headers=other)
    assert r.status_code == 404
    r = await env.client.get(
        f"/api/v1/logistics/vehicles/{TRUCK}/positions",
        params={"start": "2026-05-01T00:00:00Z", "end": "2026-05-01T01:00:00Z"},
        headers=other,
    )
    assert r.status_code == 404
    operator = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.post(
        "/api/v1/logistics/trackers", json={"vehicle": TRUCK}, headers=operator
    )
    assert r.status_code == 403
    async with env.db.session() as s:
        from cloud.logistics.positions.storage import Tracker

        assert await s.scalar(select(func.count()).select_from(Tracker)) == 1
