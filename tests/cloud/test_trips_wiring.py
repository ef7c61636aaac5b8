"""The trips package wired in (issue 13): the recompute job follows a late batch upload
by fix time, a geofence enter at a waybill's destination marks it arrived (audited), and
the console's trips, replay and geofences come from the tracked trips (SQLite and
PostgreSQL, through the API)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.catalog.storage import Location
from cloud.logistics.positions import dirty
from cloud.logistics.trips import job as job_mod
from cloud.logistics.trips.fixes import Fix, timeseries_fixes_loader
from cloud.logistics.trips.recompute import recompute_window
from cloud.logistics.trips.storage import Geofence, GeofenceEvent, TrackedStop, TrackedTrip
from cloud.logistics.waybills.storage import Waybill, WaybillEvent
from tests.cloud.catalog_support import gln
from tests.cloud.logistics_world import build, move, trip, waybill
from tests.cloud.positions_support import add_vehicle
from tests.cloud.trips_cases import STORE, day_fixes, seed_county
from tests.support.api import HOME, OTHER, ApiEnv, api_env

OSMAND = "/api/v1/logistics/osmand"
CONSOLE = "/api/v1/logistics/console"
HOUR = 3_600_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _t0() -> int:
    """Two days ago, on the hour (inside the raw retention, not in the future)."""
    return (int(time.time() * 1000) - 2 * 86_400_000) // HOUR * HOUR + 17 * 60_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _location(f: Fix) -> dict[str, Any]:
    return {"timestamp": _iso(f.t_ms),
            "coords": {"latitude": f.lat, "longitude": f.lon, "speed": f.speed_kmh / 3.6,
                       "accuracy": f.accuracy_m},
            "extras": dict(f.attrs)}  # fmt: skip


async def _tracker(env: ApiEnv, vehicle: str, county: str) -> str:
    h = await env.headers(Role.DISPATCHER, county)
    r = await env.client.post("/api/v1/logistics/trackers", json={"vehicle": vehicle}, headers=h)
    assert r.status_code == 201, r.text
    return str(r.json()["device_id"])


async def _upload(env: ApiEnv, device_id: str, fixes: list[Fix]) -> None:
    r = await env.client.post(
        OSMAND, json={"device_id": device_id, "locations": [_location(f) for f in fixes]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(fixes), r.json()


async def _fence(env: ApiEnv, county: str, location_id: int) -> int:
    async with env.db.transaction() as s:
        fence = Geofence(county=county, name="destination", location_id=location_id,
                         created_by="test", geometry={"type": "circle",
                         "center": [STORE[1], STORE[0]], "radius_m": 150.0})  # fmt: skip
        s.add(fence)
        await s.flush()
        return fence.id


async def _stored(env: ApiEnv, vehicle: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
    async with env.db.session() as s:
        trips = [(r.start_ms, r.end_ms, round(r.distance_m, 3), r.n_fixes) for r in
                 await s.scalars(select(TrackedTrip).where(TrackedTrip.vehicle == vehicle)
                                 .order_by(TrackedTrip.start_ms))]  # fmt: skip
        stops = [(r.start_ms, r.end_ms, r.n_fixes) for r in
                 await s.scalars(select(TrackedStop).where(TrackedStop.vehicle == vehicle)
                                 .order_by(TrackedStop.start_ms))]  # fmt: skip
        events = [(e.kind, e.at_ms, e.fence_id) for e in
                  await s.scalars(select(GeofenceEvent).where(GeofenceEvent.vehicle == vehicle)
                                  .order_by(GeofenceEvent.at_ms))]  # fmt: skip
    return trips, stops, events


async def test_the_job_follows_a_late_batch_upload_like_a_recompute_from_scratch(
    env: ApiEnv,
) -> None:
    vehicle = "truck-wired-1"
    await add_vehicle(env, vehicle, HOME)
    async with env.db.transaction() as s:
        loc = Location(
            kind="cold_room", name="冷库", county=HOME, created_by="test", gln=gln(771_001)
        )
        s.add(loc)
        await s.flush()
        loc_id = loc.id
    await _fence(env, HOME, loc_id)
    device_id = await _tracker(env, vehicle, HOME)
    fixes = day_fixes(_t0(), hz=0.2)
    # the phone was offline: the second half arrives first, then the first half
    half = len(fixes) // 2
    await _upload(env, device_id, fixes[half:])
    await _upload(env, device_id, fixes[:half])
    job = env.app.state.trips_recompute
    job.batch = 1  # a window per pass: several passes, each bounded
    assert await job.run_until_idle() >= 2
    assert job.stats.passes >= 3 and job.stats.failures == 0
    async with env.db.session() as s:
        assert await dirty.touched_windows(s, "trips", device=vehicle) == []
    got = await _stored(env, vehicle)
    trips, stops, events = got
    assert len(trips) == 2 and len(stops) == 1
    assert [k for k, _, _ in events] == ["enter", "exit"]
    # the same rows as a recompute from scratch over the whole day
    async with env.db.transaction() as s:
        for model in (GeofenceEvent, TrackedStop, TrackedTrip):
            await s.execute(delete(model).where(model.vehicle == vehicle))
    async with env.db.transaction() as s:
        await recompute_window(s, vehicle, fixes[0].t_ms - HOUR, fixes[-1].t_ms + HOUR,
                               timeseries_fixes_loader(env.tsdb))  # fmt: skip
    assert await _stored(env, vehicle) == got


async def test_a_failing_window_is_logged_and_left_marked(
    env: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    vehicle = "truck-wired-2"
    await add_vehicle(env, vehicle, HOME)
    device_id = await _tracker(env, vehicle, HOME)
    await _upload(env, device_id, day_fixes(_t0(), hz=0.1, drive_s=600, park_s=300)[:50])

    async def broken(vehicle: str, start_ms: int, end_ms: int) -> list[Fix]:
        raise OSError("time series away")

    j = job_mod.RecomputeJob(env.db, env.tsdb, loader=broken, lease_s=0.05)
    r = await j.run_once()
    assert r.claimed >= 1 and r.failed >= 1 and r.completed == 0
    assert "left marked for retry" in caplog.text and vehicle in caplog.text
    async with env.db.session() as s:
        left = await dirty.touched_windows(s, "trips", device=vehicle)
    assert len(left) == r.claimed
    await asyncio.sleep(0.1)  # the lease runs out: a healthy job takes the windows
    ok = job_mod.RecomputeJob(env.db, env.tsdb)
    assert (await ok.run_once()).completed == r.claimed
    async with env.db.session() as s:
        assert await dirty.touched_windows(s, "trips", device=vehicle) == []


async def test_the_apps_lifespan_runs_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("DEHONG_TRIPS_RECOMPUTE_INTERVAL_S", "0.2")
    async with api_env("sqlite", tmp_path) as env:
        vehicle = "truck-wired-3"
        await add_vehicle(env, vehicle, HOME)
        device_id = await _tracker(env, vehicle, HOME)
        await _upload(env, device_id, day_fixes(_t0(), hz=0.1))
        async with env.app.router.lifespan_context(env.app):
            for _ in range(100):
                async with env.db.session() as s:
                    if not await dirty.touched_windows(s, "trips", device=vehicle):
                        break
                await asyncio.sleep(0.1)
        assert len((await _stored(env, vehicle))[0]) == 2
        assert env.app.state.trips_recompute._task is None, "stopped with the app"


async def test_the_loop_runs_a_pass_per_interval_and_on_wake() -> None:
    import asyncio

    job = job_mod.RecomputeJob.__new__(job_mod.RecomputeJob)
    calls: list[int] = []

    async def once() -> job_mod.PassResult:
        calls.append(1)
        return job_mod.PassResult()

    job._wake = asyncio.Event()
    job._task = None
    job.batch = 10
    job.run_once = once  # type: ignore[method-assign]
    job.start(0.05)
    await asyncio.sleep(0.01)
    job.wake()
    await asyncio.sleep(0.01)
    n = len(calls)
    await asyncio.sleep(0.2)
    await job.stop()
    assert n >= 2, "a pass at start and one on wake"
    assert 3 <= len(calls) <= 10, "a pass per interval, no busy loop"


async def test_entering_the_destination_marks_the_waybill_arrived(env: ApiEnv) -> None:
    w = await build(env, HOME)
    t0 = _t0()
    day = datetime.fromtimestamp(t0 / 1000, UTC).date().isoformat()
    wb = await waybill(env, w, destination_id=w.customer)
    other = await waybill(env, w, destination_id=w.customer2)
    t = await trip(env, w, day)
    for ident in (wb, other):
        r = await move(env, w.admin, ident, "assigned", trip_id=t)
        assert r.status_code == 201, r.text
        r = await move(env, w.driver_headers, ident, "loaded", at=_iso(t0 - 600_000))
        assert r.status_code == 201, r.text
    fence = await _fence(env, HOME, w.customer)
    device_id = await _tracker(env, w.vehicle, HOME)
    await _upload(env, device_id, day_fixes(t0, hz=0.2))
    await env.app.state.trips_recompute.run_until_idle()
    async with env.db.session() as s:
        enter = await s.scalar(select(GeofenceEvent).where(
            GeofenceEvent.vehicle == w.vehicle, GeofenceEvent.kind == "enter"))  # fmt: skip
        assert enter is not None and enter.fence_id == fence
        assert (await s.get(Waybill, wb)).status == "arrived"  # type: ignore[union-attr]
        assert (await s.get(Waybill, other)).status == "loaded", "not its destination"  # type: ignore[union-attr]
        ev = await s.scalar(select(WaybillEvent).where(WaybillEvent.waybill_id == wb,
                                                       WaybillEvent.to_status == "arrived"))  # fmt: skip
        assert ev is not None and ev.source == "geofence" and ev.actor == "system:geofence"
        assert int(ev.at.timestamp() * 1000) == enter.at_ms
        audited = (await s.scalars(select(AuditEntry).where(
            AuditEntry.actor == "system:geofence"))).all()  # fmt: skip
    assert any(str(wb) in a.target for a in audited), [a.target for a in audited]
    # the same fixes again (recomputed: the enter is not new) move nothing more
    async with env.db.session() as s:
        before = len(
            (await s.scalars(select(WaybillEvent).where(WaybillEvent.waybill_id == wb))).all()
        )
    async with env.db.transaction() as s:
        await dirty.mark(s, [(w.vehicle, HOME, t0)], names=["trips"])
    await env.app.state.trips_recompute.run_until_idle()
    async with env.db.session() as s:
        n = len((await s.scalars(select(WaybillEvent).where(WaybillEvent.waybill_id == wb))).all())
    assert n == before


async def test_console_trips_replay_and_geofences(env: ApiEnv) -> None:
    mine = await seed_county(env, HOME)
    theirs = await seed_county(env, OTHER)
    h = await env.headers(Role.DISPATCHER, HOME)
    body = (await env.client.get(f"{CONSOLE}/trips", headers=h)).json()
    assert body["connected"] is True, body
    ids = [x["id"] for x in body["items"]]
    assert mine["trip"] in ids and theirs["trip"] not in ids
    assert {x["vehicle"] for x in body["items"]} == {mine["vehicle"]}
    starts = [x["started_at"] for x in body["items"]]
    assert starts == sorted(starts, reverse=True)
    r = await env.client.get(f"{CONSOLE}/trips/{mine['trip']}/replay", headers=h)
    assert r.status_code == 200, r.text
    rp = r.json()
    own = await env.client.get(f"/api/v1/logistics/tracked-trips/{mine['trip']}/replay",
                               headers=h)  # fmt: skip
    src = own.json()
    assert rp["t"] == [src["t0_ms"] + t for t in src["t"]]
    assert rp["temp"] == src["temp1"] and rp["speed"] == src["speed_kmh"]
    assert rp["lat"] == src["lat"] and rp["county"] == HOME
    r = await env.client.get(f"{CONSOLE}/trips/{theirs['trip']}/replay", headers=h)
    assert r.status_code == 404
    r = await env.client.get(f"{CONSOLE}/trips/not-a-number/replay", headers=h)
    assert r.status_code == 404
    snap = (await env.client.get(f"{CONSOLE}/snapshot", headers=h)).json()
    fences = (
        snap["geofences"]["items"] if isinstance(snap["geofences"], dict) else snap["geofences"]
    )
    assert [f["id"] for f in fences] == [mine["fence"]]
    assert fences[0]["shape"] == {"type": "circle", "lat": STORE[0], "lon": STORE[1],
                                  "radius_m": 150.0}  # fmt: skip
