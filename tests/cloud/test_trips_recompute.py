"""recompute_window (cloud/logistics/trips/recompute.py): late and offline fixes are
recomputed by fix time and give what a computation from scratch gives; idempotent; the
enter hook fires once per new enter; the time-series fixes loader on both stores."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.catalog.storage import Location, MobileDevice, Organisation
from cloud.db import Database
from cloud.logistics.trips import hooks
from cloud.logistics.trips.fixes import Fix, memory_fixes_loader, timeseries_fixes_loader
from cloud.logistics.trips.recompute import recompute_window
from cloud.logistics.trips.storage import (
    Geofence,
    GeofenceEvent,
    TrackedStop,
    TrackedTrip,
    TripTrack,
)
from cloud.timeseries import Point
from tests.cloud.catalog_support import gln, uscc
from tests.cloud.trips_cases import STORE, day_fixes
from tests.support.api import HOME, T0
from tests.support.schema import migrate_async

V = "truck-1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'r.db'}"
        await migrate_async(url)
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()
        return
    import asyncio

    from tests.support.postgres import fresh_database, migrated_template

    template = await asyncio.to_thread(migrated_template)
    with fresh_database(template=template) as url:
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()


async def _seed(db: Database) -> int:
    async with db.transaction() as s:
        org = Organisation(kind="carrier", name="运输", uscc=uscc(HOME, 76), county=HOME,
                           created_by="t")  # fmt: skip
        s.add(org)
        await s.flush()
        s.add(MobileDevice(device_id=V, kind="vehicle", org_id=org.id, county=HOME,
                           registered_by="t"))  # fmt: skip
        loc = Location(kind="cold_room", name="冷库", county=HOME, org_id=org.id, gln=gln(76),
                       created_by="t")  # fmt: skip
        s.add(loc)
        await s.flush()
        s.add(Geofence(county=HOME, name="冷库", location_id=loc.id, created_by="t",
                       geometry={"type": "circle", "center": [STORE[1], STORE[0]],
                                 "radius_m": 150.0}))  # fmt: skip
        return loc.id


async def _state(db: Database) -> tuple[list[tuple], list[tuple], list[tuple], int]:  # type: ignore[type-arg]
    async with db.session() as s:
        trips = [(r.start_ms, r.end_ms, round(r.distance_m, 3), r.end_reason, r.temp_n)
                 for r in await s.scalars(select(TrackedTrip).order_by(TrackedTrip.start_ms))]  # fmt: skip
        stops = [(r.start_ms, r.end_ms, r.resume_ms)
                 for r in await s.scalars(select(TrackedStop).order_by(TrackedStop.start_ms))]  # fmt: skip
        events = [(r.fence_id, r.kind, r.at_ms)
                  for r in await s.scalars(select(GeofenceEvent).order_by(GeofenceEvent.at_ms))]  # fmt: skip
        tracks = len((await s.scalars(select(TripTrack.trip_id))).all())
    return trips, stops, events, tracks


def _days(n: int) -> list[Fix]:
    out: list[Fix] = []
    t = T0
    for _ in range(n):
        day = day_fixes(t, hz=0.5)
        out += day
        t = day[-1].t_ms + 4 * 3_600_000  # overnight: a gap
    return out


async def _recompute(db: Database, loader, start: int, end: int):  # type: ignore[no-untyped-def]
    async with db.transaction() as s:
        return await recompute_window(s, V, start, end, loader)


async def test_late_fixes_give_what_a_computation_from_scratch_gives(db: Database) -> None:
    await _seed(db)
    fixes = _days(3)
    # from scratch, all at once
    await _recompute(db, memory_fixes_loader({V: fixes}), fixes[0].t_ms, fixes[-1].t_ms + 1)
    want = await _state(db)
    assert len(want[0]) >= 6 and len(want[1]) == 3 and len(want[2]) == 6
    # again: idempotent
    await _recompute(db, memory_fixes_loader({V: fixes}), fixes[0].t_ms, fixes[-1].t_ms + 1)
    assert await _state(db) == want

    # the same fixes arriving out of order: live fixes with holes, the holes later in
    # random batches (an offline phone's day), each batch recomputed over its own window
    async with db.transaction() as s:
        for table in (TripTrack, GeofenceEvent, TrackedTrip, TrackedStop):
            await s.execute(table.__table__.delete())
    rnd = random.Random(13)
    holes = [(i, i + rnd.randint(50, 900)) for i in range(200, len(fixes) - 1000, 1500)]
    held = {j for a, b in holes for j in range(a, b)}
    arrived = [f for j, f in enumerate(fixes) if j not in held]
    await _recompute(db, memory_fixes_loader({V: arrived}), arrived[0].t_ms, arrived[-1].t_ms + 1)
    rnd.shuffle(holes)
    for a, b in holes:
        arrived += fixes[a:b]
        await _recompute(
            db, memory_fixes_loader({V: arrived}), fixes[a].t_ms, fixes[b - 1].t_ms + 1
        )
    assert await _state(db) == want


async def test_the_enter_hook_fires_once_per_new_enter(db: Database) -> None:
    loc = await _seed(db)
    seen: list[hooks.EnterEvent] = []

    async def arrived(session, event: hooks.EnterEvent) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    async def broken(session, event: hooks.EnterEvent) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("a waybill hook that fails")

    hooks.on_enter(broken)
    hooks.on_enter(arrived)
    try:
        fixes = day_fixes(hz=0.5)
        loader = memory_fixes_loader({V: fixes})
        for _ in range(2):
            await _recompute(db, loader, fixes[0].t_ms, fixes[-1].t_ms + 1)
    finally:
        hooks.remove(arrived)
        hooks.remove(broken)
    assert len(seen) == 1 and seen[0].location_id == loc and seen[0].vehicle == V
    assert seen[0].county == HOME and seen[0].since <= seen[0].at
    assert hooks.failures.get(broken.__qualname__, 0) >= 1


async def test_an_unregistered_vehicle_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="vehicle_device_id"):
        await _recompute(db, memory_fixes_loader({}), T0, T0 + 1000)


async def test_the_timeseries_loader_reads_fixes_of_either_store(ts_store) -> None:  # type: ignore[no-untyped-def]
    import time

    now = int(time.time() * 1000) // 1000 * 1000 - 3_600_000  # within raw retention
    fixes = day_fixes(now, hz=0.2, drive_s=300, park_s=200)
    points = [
        Point(
            "vehicle",
            V,
            HOME,
            "",
            f.t_ms,
            {
                "lat": f.lat,
                "lon": f.lon,
                "speed_kmh": f.speed_kmh,
                "accuracy_m": f.accuracy_m,
                **f.attrs,
            },
        )
        for f in fixes
    ]
    points.append(Point("vehicle", V, HOME, "", now + 1, {"temp1": 7.5}))  # a probe alone
    await ts_store.write(points)
    load = timeseries_fixes_loader(ts_store, counties=[HOME])
    got = await load(V, now, now + 10_000_000)
    assert [f.t_ms for f in got] == sorted([f.t_ms for f in fixes] + [now + 1])
    first = next(f for f in got if f.t_ms == now)
    assert first.lat == pytest.approx(fixes[0].lat) and first.speed_kmh == 50.0
    assert first.attrs == {"temp1": pytest.approx(fixes[0].attrs["temp1"])}
    probe = next(f for f in got if f.t_ms == now + 1)
    assert probe.lat is None and probe.attrs == {"temp1": 7.5} and not probe.has_position
    assert await timeseries_fixes_loader(ts_store, counties=["533124"])(V, now, now + 10**7) == []
