"""``dehong bench screen [--short]``: the big-data screen's figures, one JSON line
(issue 14).

Set-up: a private influxd on free ports and a fresh PostgreSQL database (migrated);
the time series of 200 devices at 1-minute points (160 cold rooms: temperature;
40 vehicles: speed, position, reefer temperature) over 30 days, with the cold rooms'
1-h roll-ups (the MKT panel reads them); a year of orders from ``sim commerce``; and
the relational records the other panels read (alarms, excursions, scans, brand
decisions, trace events, waybills, scan flags, stations).

- ``panels``: every panel's Grafana target (InfluxQL on InfluxDB, SQL on PostgreSQL),
  Grafana's macros expanded over the dashboard's default range, run ``N`` times;
  p95 per panel, goal < 200 ms each.
- ``overview``: the wall's whole data (``run_panels`` of every /screen panel through
  our interfaces on InfluxDB + PostgreSQL, as ``/screen/data`` runs it: relational
  panels one after another in one session, beside the time-series panels), p95, goal
  < 1 s; beside it, in the same run, ``overview_side_by_side``: the relational panels
  at once, each in a session of its own (``Context.sessions``).
- ``walls``: ``dehong cloud serve`` with 20 walls polling ``/api/v1/screen/data``
  (open loop, 20 requests/s: a wall each second, far above the 15 s a wall polls),
  p99 beside ``/healthz`` at the same rate (no goal in the issue: reported).

``--short``: 3 days x 200 devices, two months of orders, fewer repetitions (stated in
the line as ``days`` and ``order_months``).
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, text

from bench.ingest import _drop_pg, _fresh_pg, _http_ok, _wait_for, spawn
from bench.servers import PrivateInflux, free_port

ROOMS = 160
VEHICLES = 40
MINUTE = 60_000
HOUR = 3_600_000
COUNTIES = ("533103", "533124", "533123", "533122")
GOAL_PANEL_MS = 200.0
GOAL_OVERVIEW_MS = 1000.0
WALLS = 20


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)]


def _temp(i: int, k: int) -> float:
    return round(3.0 + i % 5 + 1.5 * math.sin(k / 1440 * 2 * math.pi + i), 2)


async def seed_series(store: Any, now_ms: int, days: int) -> dict[str, int]:
    """Raw points at 1 min for 200 devices, and the rooms' 1-h roll-ups."""
    from cloud.timeseries.base import Point

    n = days * 1440
    t0 = (now_ms - n * MINUTE) // MINUTE * MINUTE
    lines = 0
    buf: list[Any] = []

    async def flush() -> None:
        nonlocal buf
        if buf:
            await store.write(buf)
            buf = []

    rollups: list[Any] = []
    for i in range(ROOMS):
        county = COUNTIES[i % 4]
        dev = f"bench-{county}.room-{i}"
        hour: dict[int, list[float]] = {}
        for k in range(n):
            ts = t0 + k * MINUTE
            v = _temp(i, k)
            buf.append(Point("cold_room", dev, county, f"site-{i // 8}", ts, {"temperature": v}))
            hour.setdefault(ts // HOUR * HOUR, []).append(v)
            if len(buf) >= 20_000:
                await flush()
        lines += n
        for w, vs in hour.items():
            mkt = sum(math.exp(-10_000.0 / (v + 273.15)) for v in vs)
            fields = {"temperature_mean": sum(vs) / len(vs), "temperature_min": min(vs),
                      "temperature_max": max(vs), "temperature_count": float(len(vs)),
                      "temperature_sum": sum(vs), "temperature_mkt": mkt}  # fmt: skip
            rollups.append(Point("cold_room", dev, county, f"site-{i // 8}", w, fields))
    for j in range(VEHICLES):
        county = COUNTIES[j % 4]
        dev = f"bench-truck-{j}"
        for k in range(n):
            ts = t0 + k * MINUTE + 500
            buf.append(Point("vehicle", dev, county, "", ts, {
                "speed_kmh": float((k + j) % 90 if j % 3 else 0), "temp1": 2.0 + j % 3,
                "lat": 24.3 + (j % 10) * 0.05, "lon": 98.2 + (k % 600) * 0.0005}))  # fmt: skip
            if len(buf) >= 20_000:
                await flush()
        lines += n
    await flush()
    for i in range(0, len(rollups), 20_000):
        await store.write_rollups("1h", rollups[i : i + 20_000])
    return {"points": lines, "rollups_1h": len(rollups)}


async def seed_relational(db: Any, now: datetime, days: int) -> dict[str, int]:
    """Devices and the relational records of every panel, in bulk."""
    from cloud.catalog.storage import Location, MobileDevice, Organisation, ProductionBase
    from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
    from cloud.devices.storage import Device
    from cloud.logistics.waybills.storage import Waybill
    from cloud.resolver.scans.storage import Scan, ScanFlag
    from cloud.trace.brand.storage import BrandDecision
    from cloud.trace.events.storage import TraceEvent
    from cloud.trace.lots.storage import TraceLot

    counts: dict[str, int] = {}
    async with db.transaction() as s:
        orgs = {}
        for ci, c in enumerate(COUNTIES):
            org = Organisation(kind="cooperative", name=f"bench {c}", uscc=f"B{c}00000000{ci:02d}X"[:18],
                               county=c, created_by="bench")  # fmt: skip
            s.add(org)
            await s.flush()
            orgs[c] = org.id
            base = ProductionBase(org_id=org.id, county=c, name=f"base {c}", kind="farm",
                                  geometry={"type": "Point", "coordinates": [98.3, 24.4]},
                                  lon=98.3 + ci * 0.1, lat=24.4, created_by="bench")  # fmt: skip
            s.add(base)
            await s.flush()
            for j in range(25):
                s.add(Location(kind="station", name=f"station {c}-{j}", county=c, org_id=org.id,
                               base_id=base.id, gln=f"69{ci}{j:010d}", created_by="bench"))  # fmt: skip
        await s.execute(insert(Device), [
            {"id": f"bench-{COUNTIES[i % 4]}.room-{i}", "county": COUNTIES[i % 4], "kind": "cold_room",
             "site": f"site-{i // 8}", "gateway_id": f"gw-{i // 8}", "metrics": ["temperature"],
             "first_seen_at": now, "last_seen_at": now, "last_reading_ms": int(now.timestamp() * 1000) - MINUTE, "readings": 1}
            for i in range(ROOMS)])  # fmt: skip
        await s.execute(insert(MobileDevice), [
            {"device_id": f"bench-truck-{j}", "kind": "vehicle", "org_id": orgs[COUNTIES[j % 4]],
             "county": COUNTIES[j % 4], "registered_by": "bench", "registered_at": now}
            for j in range(VEHICLES)])  # fmt: skip
        lots = []
        for ci, c in enumerate(COUNTIES):
            for j in range(50):
                lot = TraceLot(gtin=f"0690000{ci}{j:06d}", lot=f"B{ci}-{j}", county=c, org_id=orgs[c],
                               created_by="bench")  # fmt: skip
                s.add(lot)
                lots.append((lot, c))
        await s.flush()
        span = days * 86_400
        scans = [{"token_sha256": secrets.token_hex(32), "lot_id": lots[k % 200][0].id,
                  "county": lots[k % 200][1], "serial": "", "at": now - timedelta(seconds=k * span // 100_000)}
                 for k in range(100_000)]  # fmt: skip
        for i in range(0, len(scans), 10_000):
            await s.execute(insert(Scan), scans[i : i + 10_000])
        counts["scans"] = len(scans)
        await s.execute(insert(ScanFlag), [
            {"kind": "too_many_scans", "lot_id": lots[k % 200][0].id, "county": lots[k % 200][1],
             "serial": str(k), "hits": 3, "first_at": now - timedelta(days=k % days),
             "last_at": now - timedelta(hours=k % (days * 24)), "detail": {}} for k in range(2000)])  # fmt: skip
        await s.execute(insert(BrandDecision), [
            {"lot_id": lots[k % 200][0].id, "county": lots[k % 200][1], "granted": k % 3 != 0,
             "ruleset_version": 1, "states": [], "reason": "bench", "trigger": "rules",
             "decided_at": now - timedelta(hours=k)} for k in range(5000)])  # fmt: skip
        await s.execute(insert(ColdchainAlarm), [
            {"county": COUNTIES[k % 4], "device": f"bench-{COUNTIES[k % 4]}.room-{k % ROOMS}",
             "metric": "temperature", "rule": "range", "source": "cloud", "severity": "major",
             "status": ("raised", "acknowledged", "cleared", "cleared")[k % 4], "active": k % 4 < 2,
             "count": 1, "first_ms": 0, "last_ms": 0, "message": "",
             "raised_at": now - timedelta(minutes=k * 7)} for k in range(5000)])  # fmt: skip
        await s.execute(insert(ColdchainExcursion), [
            {"device": f"bench-room-{k % ROOMS}", "metric": "temperature", "county": COUNTIES[k % 4],
             "start_ms": int(now.timestamp() * 1000) - k * 600_000,
             "end_ms": None if k % 50 == 0 else int(now.timestamp() * 1000) - k * 600_000 + 300_000,
             "duration_s": 300.0, "direction": 1, "peak_c": 9.0, "kind": "range",
             "confirmed_ms": 0, "door": False, "updated_at": now} for k in range(5000)])  # fmt: skip
        events = [{"event_id": f"ni:///bench-{k}", "event_type": "ObjectEvent",
                   "event_time": now - timedelta(seconds=k * span // 50_000), "event_tz_offset": "+08:00",
                   "county": COUNTIES[k % 4], "action": "OBSERVE",
                   "biz_step": ("commissioning", "shipping", "receiving", "storing")[k % 4],
                   "body": {}, "created_by": "bench", "record_time": now} for k in range(50_000)]  # fmt: skip
        for i in range(0, len(events), 10_000):
            await s.execute(insert(TraceEvent), events[i : i + 10_000])
        await s.execute(text(
            "INSERT INTO trace_event_objects (event_seq, role, uri, gtin, lot) "
            "SELECT seq, 'epc', 'urn:bench:' || seq, '06900000000000', 'L' || (seq % 300) FROM trace_events"
        ))  # fmt: skip
        counts["events"] = len(events)
        loc_ids = [
            r[0] for r in await s.execute(text("SELECT id FROM locations ORDER BY id LIMIT 2"))
        ]
        states = ("created", "assigned", "loaded", "departed", "arrived", "delivered")
        await s.execute(insert(Waybill), [
            {"number": f"WBB{k:08d}", "county": COUNTIES[k % 4], "shipper_id": orgs[COUNTIES[k % 4]],
             "origin_id": loc_ids[0], "destination_id": loc_ids[1], "temp_class": "chilled",
             "weight_kg": 100.0, "lots": [], "status": states[k % 6], "created_by": "bench",
             "created_at": now - timedelta(hours=k), "updated_at": now - timedelta(minutes=k * 9)}
            for k in range(10_000)])  # fmt: skip
        counts["waybills"] = 10_000
    return counts


async def time_panels(store: Any, db: Any, now_ms: int, reps: int) -> dict[str, dict[str, Any]]:
    """Every panel's Grafana target, macros expanded, ``reps`` times."""
    from cloud.commerce.screen import influxql, sql
    from cloud.commerce.screen.catalogue import PANELS
    from cloud.commerce.screen.runner import window

    out: dict[str, dict[str, Any]] = {}
    async with db.session() as s:
        for p in PANELS:
            start, end = window(p, now_ms)
            if p.source == "ts":
                q = influxql.expand(influxql.compile_influxql(p), start_ms=start, end_ms=end,
                                    interval_ms=HOUR, counties=None)  # fmt: skip

                async def go(q: str = q) -> int:
                    return sum(len(x.get("values", [])) for x in await store.query(q))

                where = "influxdb"
            else:
                q = sql.expand(sql.compile_sql(p, "grafana"), start_ms=start, end_ms=end,
                               counties=list(COUNTIES))  # fmt: skip

                async def go(q: str = q) -> int:
                    return len((await s.execute(text(q))).all())

                where = "postgresql"
            out[p.id] = {"store": where, **await _timed(go, reps)}
            if p.id == "lots_by_stage":  # same-run baseline: the count(DISTINCT) form
                old = (
                    'SELECT e.biz_step AS "biz_step", count(DISTINCT o.lot) AS "value" FROM '
                    + q.split(' AS "v" FROM ', 1)[1].split(" AND o.lot IS NOT NULL)", 1)[0]
                    + " GROUP BY 1 ORDER BY 1"
                )

                async def go_old(q: str = old) -> int:
                    return len((await s.execute(text(q))).all())

                out["lots_by_stage_count_distinct_baseline"] = {
                    "store": where, **await _timed(go_old, reps)}  # fmt: skip
    return out


async def _timed(go: Any, reps: int) -> dict[str, Any]:
    rows = await go()  # warm
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        await go()
        times.append((time.perf_counter() - t) * 1000)
    return {"rows": rows, "p95_ms": round(p95(times), 1),
            "median_ms": round(statistics.median(times), 1),
            "goal_met": p95(times) < GOAL_PANEL_MS}  # fmt: skip


async def time_overview(store: Any, db: Any, reps: int, *, side_by_side: bool) -> dict[str, Any]:
    """The wall's data as ``/screen/data`` computes it (``side_by_side``: relational
    panels in sessions of their own, at once, instead of one after another in one
    session)."""
    from cloud.commerce.screen.catalogue import SCREEN_PANELS
    from cloud.commerce.screen.runner import Context, run_panels

    times = []
    statuses: dict[str, str] = {}
    took: dict[str, list[float]] = {}
    for _ in range(reps + 1):
        async with db.session() as s:
            ctx = Context(session=s, store=store, counties=None,
                          sessions=db.session if side_by_side else None)  # fmt: skip
            t = time.perf_counter()
            got = await run_panels(list(SCREEN_PANELS), ctx)
            times.append((time.perf_counter() - t) * 1000)
            statuses = {p.id: p.status for p in got}
            for p in got:
                took.setdefault(p.id, []).append(p.took_ms)
    times = times[1:]
    bad = {k: v for k, v in statuses.items() if v != "ok"}
    slowest = sorted(((round(statistics.median(v), 1), k) for k, v in took.items()), reverse=True)
    return {"panels": len(SCREEN_PANELS), "p95_ms": round(p95(times), 1),
            "slowest_panels_median_ms": {k: v for v, k in slowest[:5]},
            "median_ms": round(statistics.median(times), 1), "not_ok": bad,
            "goal_met": p95(times) < GOAL_OVERVIEW_MS and not bad}  # fmt: skip


async def _load(url: str, headers: list[str], rate: float, seconds: float) -> dict[str, Any]:
    args = [
        sys.executable,
        "-m",
        "bench.load",
        url,
        "--rate",
        str(rate),
        "--duration",
        str(seconds),
    ]
    for h in headers:
        args += ["--header", h]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await proc.communicate()
    return orjson.loads(stdout)  # type: ignore[no-any-return]


async def walls(env: dict[str, str], key: str, tmp: Path, seconds: float) -> dict[str, Any]:
    port = free_port()
    api = spawn(["cloud", "serve", "--port", str(port)], env, tmp / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_for(lambda: _http_ok(f"{base}/healthz"), 60, "API")
        trivial = await _load(f"{base}/healthz", [], WALLS, seconds)
        screen = await _load(f"{base}/api/v1/screen/data", [f"X-API-Key: {key}"], WALLS, seconds)
    finally:
        api.terminate()
        api.wait(20)
    return {"walls": WALLS, "rate_per_s": WALLS, "seconds": seconds, "healthz": trivial,
            "screen_data": screen}  # fmt: skip


async def run_async(short: bool) -> dict[str, Any]:
    from cloud.auth.policy import Role
    from cloud.auth.service import create_api_key
    from cloud.commerce.sim import simulate
    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.timeseries.influx import InfluxStore

    days = 3 if short else 30
    months = 2 if short else 12
    reps = 10 if short else 40
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-screen-"))
    influx = PrivateInflux(tmp / "influx")
    influx.start()
    pg = _fresh_pg()
    result: dict[str, Any] = {"bench": "screen", "short": short, "days": days,
                              "devices": ROOMS + VEHICLES, "order_months": months,
                              "machine_cores": os.cpu_count(), "load": os.getloadavg()[0]}  # fmt: skip
    if pg is None:
        influx.stop()
        return {**result, "error": "PostgreSQL not reachable", "goal_met": False}
    store = InfluxStore(influx.url, database="dehong", timeout_s=120)
    try:
        await upgrade_async(pg)
        db = Database(pg)
        await store.open()
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        t = time.perf_counter()
        result["series"] = await seed_series(store, now_ms, days)
        result["relational"] = await seed_relational(db, now, days)
        result["orders"] = await simulate(db, months=months, per_day=300.0)
        async with db.transaction() as s:  # what autovacuum does to a loaded table
            await s.execute(text("ANALYZE"))
        result["seed_s"] = round(time.perf_counter() - t, 1)
        panels = await time_panels(store, db, now_ms, reps)
        result["panels"] = panels
        result["overview"] = await time_overview(store, db, reps, side_by_side=False)
        result["overview_side_by_side"] = await time_overview(store, db, reps, side_by_side=True)
        async with db.transaction() as s:
            key = (await create_api_key(s, name="bench wall", role=Role.DISPLAY, county="533100",
                                        actor="bench")).key  # fmt: skip
        env = {**os.environ, "DEHONG_DATABASE_URL": pg, "DEHONG_INFLUX_URL": influx.url,
               "DEHONG_INFLUX_DB": "dehong", "DEHONG_JWT_SECRET": secrets.token_urlsafe(48)}  # fmt: skip
        result["walls"] = await walls(env, key, tmp, 8.0 if short else 20.0)
        await db.dispose()
    finally:
        await store.close()
        influx.stop()
        _drop_pg(pg)
    result["load_after"] = os.getloadavg()[0]
    result["goal_met"] = (
        all(p["goal_met"] for p in result["panels"].values()) and result["overview"]["goal_met"]
    )
    return result


def run(short: bool = False) -> dict[str, Any]:
    return asyncio.run(run_async(short))
