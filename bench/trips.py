"""``dehong bench trips``: the trips, stops and geofence events recompute after a 24 h
offline upload of 1 Hz fixes (86,400), beside reading those fixes back from the store
(the baseline, in the same run); and the replay of a 10-hour 1 Hz trip (36,000 fixes)
through the API, p50/p99, beside ``/api/v1/auth/me`` on the same app.

Stores: the embedded SQLite time-series store and a SQLite relational database in a
temporary directory (what ``dehong demo`` runs on). The API is called in process
(httpx's ASGI transport): the figures are the server's work without a network."""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_RECOMPUTE_S = 2.0
GOAL_REPLAY_P99_MS = 300.0
COUNTY = "533103"


def _day(t0: int, n: int, *, stop_every_s: int = 3300, stop_s: int = 300) -> list[Any]:
    """1 Hz fixes: a winding road at 40-70 km/h with a stop of ``stop_s`` every
    ``stop_every_s``; temp1 drifting 3-7 °C."""
    from cloud.logistics.trips.fixes import Fix

    out = []
    lat, lon, heading = 24.43, 98.58, 0.3
    for i in range(n):
        phase = i % stop_every_s
        moving = phase < stop_every_s - stop_s
        v = (55 + 15 * math.sin(i / 97)) / 3.6 if moving else 0.0
        heading += 0.02 * math.sin(i / 41)
        lat += v * math.cos(heading) / 110_770
        lon += v * math.sin(heading) / (110_770 * math.cos(math.radians(lat)))
        temp = 5 + 2 * math.sin(i / 1800) + 0.1 * math.sin(i / 7)
        out.append(Fix(t0 + i * 1000, lat, lon, v * 3.6, 5.0, {"temp1": round(temp, 2)}))
    return out


async def _seed(db: Any, vehicles: list[str], fences_on: list[Any]) -> None:
    from cloud.auth.storage import User
    from cloud.catalog.storage import Location, MobileDevice, Organisation
    from cloud.catalog.uscc import check_char
    from cloud.db import utcnow
    from cloud.logistics.trips.storage import Geofence

    async with db.transaction() as s:
        body = f"91{COUNTY}MA6000760"
        org = Organisation(kind="carrier", name="bench", uscc=body + check_char(body),
                           county=COUNTY, created_by="bench")  # fmt: skip
        s.add(org)
        await s.flush()
        for v in vehicles:
            s.add(MobileDevice(device_id=v, kind="vehicle", org_id=org.id, county=COUNTY,
                               registered_by="bench"))  # fmt: skip
        for n in range(50):
            gln = f"690{n:09d}"
            gln += str(
                (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(gln)) % 10) % 10
            )
            loc = Location(kind="customer_site", name=f"site {n}", county=COUNTY, org_id=org.id,
                           gln=gln, created_by="bench")  # fmt: skip
            s.add(loc)
            await s.flush()
            # 10 on the route, 40 scattered off it
            if n < len(fences_on):
                lat, lon = fences_on[n].lat, fences_on[n].lon
            else:
                lat, lon = 24.0 + (n % 7) * 0.05, 97.8 + (n // 7) * 0.05
            s.add(Geofence(county=COUNTY, name=loc.name, location_id=loc.id, created_by="bench",
                           geometry={"type": "circle", "center": [lon, lat], "radius_m": 150}))  # fmt: skip
        s.add(User(username="bench-dispatcher", password_hash="x", role="dispatcher",
                   county=COUNTY, display_name="", disabled=False, created_at=utcnow()))  # fmt: skip


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(q * len(xs)) - 1)]


async def run_async(short: bool) -> dict[str, Any]:
    import httpx

    from cloud.app import create_app
    from cloud.auth.service import issue_token
    from cloud.auth.storage import User
    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.logistics.trips.engine import analyse
    from cloud.logistics.trips.fixes import memory_fixes_loader, timeseries_fixes_loader
    from cloud.logistics.trips.recompute import recompute_window
    from cloud.logistics.trips.storage import TrackedTrip
    from cloud.settings import Settings
    from cloud.timeseries import Point
    from cloud.timeseries.sqlite import SqliteStore

    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-trips-"))
    url = f"sqlite:///{tmp / 'rel.db'}"
    await upgrade_async(url)
    db = Database(url)
    tsdb = SqliteStore(tmp / "ts.db")
    await tsdb.open()
    now = int(time.time()) * 1000
    t0 = now - 86_400_000
    day = _day(t0, 86_400)
    trip_fixes = _day(t0, 36_000, stop_every_s=10**9)
    await _seed(db, ["bench-truck", "bench-replay"], day[1000::3300][:10])
    rounds = 2 if short else 5
    result: dict[str, Any] = {
        "bench": "trips",
        "short": short,
        "machine_cores": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        "stores": "embedded sqlite time series, sqlite relational",
        "fixes": len(day),
        "geofences": 50,
    }
    try:
        # the offline day lands in the time series (not measured: the positions' upload)
        for i in range(0, len(day), 20_000):
            await tsdb.write([
                Point("vehicle", "bench-truck", COUNTY, "", f.t_ms,
                      {"lat": f.lat, "lon": f.lon, "speed_kmh": f.speed_kmh,
                       "accuracy_m": f.accuracy_m, **f.attrs})
                for f in day[i : i + 20_000]
            ])  # fmt: skip
        loader = timeseries_fixes_loader(tsdb, counties=[COUNTY])
        reads, recomputes, engine = [], [], []
        out = None
        for _ in range(rounds):
            began = time.perf_counter()
            got = await loader("bench-truck", t0, now + 1)
            reads.append(time.perf_counter() - began)
            assert len(got) == len(day)
            began = time.perf_counter()
            analyse(got)
            engine.append(time.perf_counter() - began)
            began = time.perf_counter()
            async with db.transaction() as s:
                out = await recompute_window(s, "bench-truck", t0, now + 1, loader)
            recomputes.append(time.perf_counter() - began)
        assert out is not None
        result["recompute_24h"] = {
            "recompute_s_median": round(statistics.median(recomputes), 3),
            "recompute_s_max": round(max(recomputes), 3),
            "baseline_read_fixes_s_median": round(statistics.median(reads), 3),
            "engine_trips_stops_only_s_median": round(statistics.median(engine), 3),
            "ratio_to_read": round(statistics.median(recomputes) / statistics.median(reads), 2),
            "rounds": rounds,
            "trips": out.trips,
            "stops": out.stops,
            "geofence_events": out.events,
            "goal_s": GOAL_RECOMPUTE_S,
        }
        # the 10-hour trip, recomputed from memory, replayed through the API
        async with db.transaction() as s:
            await recompute_window(s, "bench-replay", t0, t0 + 36_000_000,
                                   memory_fixes_loader({"bench-replay": trip_fixes}))  # fmt: skip
        async with db.session() as s:
            from sqlalchemy import select

            trip = (
                await s.scalars(select(TrackedTrip).where(TrackedTrip.vehicle == "bench-replay"))
            ).one()
            user = (await s.scalars(select(User))).one()
        secret = secrets.token_urlsafe(48)
        settings = Settings(_env_file=None, database_url=url, jwt_secret=secret,  # type: ignore[call-arg]
                            tsdb_path=tmp / "ts.db", mosquitto_dir=tmp / "mosquitto")  # fmt: skip
        token, _ = issue_token(user, secret, 3600)
        h = {"Authorization": f"Bearer {token}"}
        app = create_app(settings, db=db, tsdb=tsdb)
        n = 30 if short else 200
        replay, trivial, server = [], [], []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            for i in range(n + 5):
                began = time.perf_counter()
                r = await c.get(f"/api/v1/logistics/tracked-trips/{trip.id}/replay", headers=h)
                took = (time.perf_counter() - began) * 1000
                assert r.status_code == 200, r.text
                began = time.perf_counter()
                me = await c.get("/api/v1/auth/me", headers=h)
                took_me = (time.perf_counter() - began) * 1000
                assert me.status_code == 200
                if i >= 5:  # warm-up
                    replay.append(took)
                    trivial.append(took_me)
                    server.append(float(r.headers["server-timing"].split("dur=")[1]))
            body = r.json()
        result["replay_10h"] = {
            "trip_fixes": trip.n_fixes,
            "stored_points": body["n_stored"],
            "answered_points": body["n"],
            "max_points": body["max_points"],
            "bytes": len(r.content),
            "p50_ms": round(_pct(replay, 0.5), 1),
            "p99_ms": round(_pct(replay, 0.99), 1),
            "handler_p99_ms": round(_pct(server, 0.99), 1),
            "baseline_auth_me_p50_ms": round(_pct(trivial, 0.5), 1),
            "baseline_auth_me_p99_ms": round(_pct(trivial, 0.99), 1),
            "requests": n,
            "goal_p99_ms": GOAL_REPLAY_P99_MS,
        }
    finally:
        await tsdb.close()
        await db.dispose()
    result["goal_met"] = (
        result["recompute_24h"]["recompute_s_max"] < GOAL_RECOMPUTE_S
        and result["replay_10h"]["p99_ms"] < GOAL_REPLAY_P99_MS
    )
    return result


def run(short: bool = False) -> dict[str, Any]:
    import logging

    for name in ("alembic", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return asyncio.run(run_async(short))
