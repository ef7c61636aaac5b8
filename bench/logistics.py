"""``dehong bench logistics [--short]``: logistics figures, one JSON line (issue 13).

Figures are registered in :data:`FIGURES` (name -> async function of the shared
:class:`Ctx`); each returns a dict with its own ``goal_met``, reported under its
name, and the line's ``goal_met`` is all of them. Other parts add theirs (alarm
latency, trip recompute, replay query) by appending to ``FIGURES``.

Set-up (shared): a fresh PostgreSQL database (SQLite when none is reachable),
migrated; a private influxd on free ports; 17 registered vehicles of a Mangshi
carrier, each with a phone tracker; ``dehong logistics osmand-serve`` in its own
process on a free port (as in production).

- ``osmand``: 16 concurrent HTTP clients, each its own phone, send single fixes in
  the query form (a new fix per request, 1 s apart in fix time, moving ~10 m) for the
  run's seconds; **accepted/s** counts 200 answers, and the points in InfluxDB are
  counted after the run (end to end: each 200 is a stored point). Baseline, same
  server, same run, same clients: ``GET /ping`` (an empty 200). Goal >= 0.5x. The two
  run in alternating slices (ping, fix, fix, ping, ... ``ROUNDS`` pairs), so that the
  shared machine's load drifting during the run weighs on both alike; the server's
  CPU ms per ping and per fix (from ``/proc``) are reported beside.
- ``batch``: one client POSTs a day of fixes at 1 Hz for one vehicle (86,400) in
  batches of 10,000 (our JSON batch, flat form) as fast as answered; **fixes/s** from
  the stored count over the wall time. Baseline, same run: a plain bulk insert of the
  same number of points into the same InfluxDB (``InfluxStore.write`` of 10,000 points
  per request) from the bench process. Goal >= 20,000 fixes/s.
- ``trips``: ``dehong bench trips`` (bench/trips.py): the recompute after a 24 h offline
  upload (goal < 2 s) and the replay of a 10 h trip (goal p99 < 300 ms), each beside
  its baseline.
- ``alarm_latency``: ``dehong bench alarm-latency`` (bench/coldchain_latency.py) on this
  run's InfluxDB: publish → alarm webhook, p99 < 5 s, beside publish → write-ack.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.ingest import _drop_pg, _fresh_pg, _http_ok, _wait_for, spawn
from bench.servers import PrivateInflux, free_port

CLIENTS = 16
#: ping/fix slice pairs of the osmand figure
ROUNDS = 4
BATCH = 10_000
COUNTY = "533103"


@dataclass
class Ctx:
    short: bool
    db_url: str
    influx_url: str
    osmand_url: str
    #: the OsmAnd server's process (its CPU is read from /proc)
    server_pid: int
    #: vehicle -> tracker device id
    trackers: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return 4.0 if self.short else 15.0


async def _seed(url: str, n: int) -> dict[str, str]:
    from cloud.catalog.storage import MobileDevice, Organisation
    from cloud.db import Database, utcnow
    from cloud.logistics.positions import trackers

    db = Database(url)
    out = {}
    try:
        async with db.transaction() as s:
            org = Organisation(kind="carrier", name="bench carrier", uscc="B533103000000001",
                               county=COUNTY, created_at=utcnow(), created_by="bench")  # fmt: skip
            s.add(org)
            await s.flush()
            for i in range(n):
                reg = MobileDevice(device_id=f"bench-truck-{i:03d}", kind="vehicle", org_id=org.id,
                                   county=COUNTY, registered_at=utcnow(), registered_by="bench")  # fmt: skip
                s.add(reg)
                await s.flush()
                issued = await trackers.create(
                    s, reg, label="", speed_unit="ms", server_url="http://x/", actor="bench"
                )
                out[reg.device_id] = issued.device_id
    finally:
        await db.dispose()
    return out


async def _closed_loop(
    seconds: float,
    clients: int,
    request: Callable[[httpx.AsyncClient, int, int], Awaitable[int]],
    start: list[int] | None = None,
) -> tuple[int, int, float]:
    """``clients`` loops calling ``request(client, worker, i)`` for ``seconds``:
    (ok answers, other answers, elapsed s). ``start[w]`` is worker w's first ``i``,
    advanced in place (a phone's next fix continues where its last slice ended)."""
    ok = bad = 0
    stop = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal ok, bad
        async with httpx.AsyncClient(timeout=30) as c:
            i = start[w] if start is not None else 0
            while time.monotonic() < stop:
                status = await request(c, w, i)
                i += 1
                if status == 200:
                    ok += 1
                else:
                    bad += 1
            if start is not None:
                start[w] = i

    t = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    return ok, bad, time.monotonic() - t


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _count(influx_url: str, vehicles: list[str]) -> int:
    from cloud.timeseries.influx import InfluxStore

    store = InfluxStore(influx_url, database="dehong")
    await store.open()
    try:
        return sum([await store.count("vehicle", v) for v in vehicles])
    finally:
        await store.close()


async def osmand_figure(ctx: Ctx) -> dict[str, Any]:
    vehicles = sorted(ctx.trackers)[:CLIENTS]
    ids = [ctx.trackers[v] for v in vehicles]
    t0 = int(time.time()) - 86_400  # fix times: yesterday onwards, 1 s apart per phone

    async def ping(c: httpx.AsyncClient, _w: int, _i: int) -> int:
        return (await c.get(f"{ctx.osmand_url}/ping")).status_code

    async def fix(c: httpx.AsyncClient, w: int, i: int) -> int:
        # the query string built as a phone app does (ids and numbers need no escaping):
        # httpx's params= encoding cost this one-process client more than the server's
        # whole handling of a ping, which the baseline does not pay
        url = (f"{ctx.osmand_url}/?id={ids[w]}&lat={24.40 + i * 0.0001:.6f}"
               f"&lon={98.50 + w * 0.01:.6f}&timestamp={t0 + i}&speed=10&bearing=0"
               "&accuracy=5&batt=80&temp1=4.2")  # fmt: skip
        return (await c.get(url)).status_code

    await _closed_loop(1.0, CLIENTS, ping)  # warm-up (connections, imports)
    # The two endpoints in alternating slices (ping, fix, fix, ping, ...: ABBA), so that
    # a change of the shared machine's load during the run weighs on both alike; each
    # total is the sum of its slices. The server's CPU per request (from /proc) beside.
    slices = ROUNDS * 2
    per = ctx.seconds / ROUNDS
    nxt = [0] * CLIENTS
    p_ok = p_bad = f_ok = f_bad = 0
    p_s = f_s = p_cpu = f_cpu = 0.0
    for k in range(slices):
        is_ping = k % 4 in (0, 3)
        cpu0 = _cpu_s(ctx.server_pid)
        if is_ping:
            ok, bad, s = await _closed_loop(per, CLIENTS, ping)
            p_ok, p_bad, p_s, p_cpu = (
                p_ok + ok,
                p_bad + bad,
                p_s + s,
                p_cpu + _cpu_s(ctx.server_pid) - cpu0,
            )
        else:
            ok, bad, s = await _closed_loop(per, CLIENTS, fix, nxt)
            f_ok, f_bad, f_s, f_cpu = (
                f_ok + ok,
                f_bad + bad,
                f_s + s,
                f_cpu + _cpu_s(ctx.server_pid) - cpu0,
            )
    stored = await _count(ctx.influx_url, vehicles)
    trivial = p_ok / p_s
    fixes = f_ok / f_s
    return {
        "clients": CLIENTS,
        "trivial_req_per_s": round(trivial, 1),
        "fixes_accepted_per_s": round(fixes, 1),
        "ratio": round(fixes / trivial, 3) if trivial else None,
        "accepted": f_ok,
        "refused": f_bad + p_bad,
        "slices": slices,
        "server_cpu_ms_per_ping": round(p_cpu * 1000 / p_ok, 3) if p_ok else None,
        "server_cpu_ms_per_fix": round(f_cpu * 1000 / f_ok, 3) if f_ok else None,
        "stored_points": stored,
        "goal": ">= 0.5x the trivial endpoint, every 200 stored",
        "goal_met": bool(trivial and fixes / trivial >= 0.5 and stored == f_ok and f_bad == 0),
    }


async def batch_figure(ctx: Ctx) -> dict[str, Any]:
    from cloud.timeseries import Point
    from cloud.timeseries.influx import InfluxStore

    vehicle = sorted(ctx.trackers)[-1]
    dev = ctx.trackers[vehicle]
    total = 86_400 if not ctx.short else 40_000
    start = (int(time.time()) - 3 * 86_400) * 1000
    bodies = []
    for b in range(0, total, BATCH):
        locs = [{"timestamp": start + i * 1000, "lat": round(24.40 + i * 1e-5, 6), "lon": 98.5,
                 "speed": 10.0, "accuracy": 5.0, "temp1": 4.0}
                for i in range(b, min(total, b + BATCH))]  # fmt: skip
        bodies.append(orjson.dumps({"device_id": dev, "locations": locs}))
    async with httpx.AsyncClient(timeout=120) as c:
        t = time.monotonic()
        for body in bodies:
            r = await c.post(ctx.osmand_url + "/", content=body,
                             headers={"content-type": "application/json"})  # fmt: skip
            if r.status_code != 200:
                raise RuntimeError(f"batch refused: {r.status_code} {r.text[:200]}")
        batch_s = time.monotonic() - t
    stored = await _count(ctx.influx_url, [vehicle])
    # baseline: a plain bulk insert of as many points into the same store
    store = InfluxStore(ctx.influx_url, database="dehong")
    await store.open()
    try:
        base_start = start - 10 * 86_400_000
        points = [
            Point("vehicle", "bench-baseline", COUNTY, "", base_start + i * 1000,
                  {"lat": 24.40 + i * 1e-5, "lon": 98.5, "speed_kmh": 36.0, "accuracy_m": 5.0,
                   "temp1": 4.0})
            for i in range(total)
        ]  # fmt: skip
        t = time.monotonic()
        for i in range(0, total, BATCH):
            await store.write(points[i : i + BATCH])
        base_s = time.monotonic() - t
    finally:
        await store.close()
    rate = stored / batch_s
    return {
        "fixes": total,
        "per_request": BATCH,
        "stored": stored,
        "fixes_per_s": round(rate, 1),
        "plain_insert_points_per_s": round(total / base_s, 1),
        "ratio_to_plain": round(rate / (total / base_s), 3),
        "goal": ">= 20,000 fixes/s, every fix stored",
        "goal_met": bool(rate >= 20_000 and stored == total),
    }


async def trips_figure(ctx: Ctx) -> dict[str, Any]:
    """``dehong bench trips``'s figures in this line: the recompute of a 24 h offline
    upload and the replay of a 10 h trip (its own stores: SQLite, as in the demo)."""
    from bench.trips import run_async

    return await run_async(ctx.short)


async def alarm_latency_figure(ctx: Ctx) -> dict[str, Any]:
    """``dehong bench alarm-latency``'s figure in this line: publish over MQTT (the
    Mosquitto on 127.0.0.1:1883) to the alarm's webhook, on this run's InfluxDB."""
    from bench.coldchain_latency import measure

    return await measure(20 if ctx.short else 100, influx_url=ctx.influx_url)


#: name -> figure; other parts append theirs.
FIGURES: dict[str, Callable[[Ctx], Awaitable[dict[str, Any]]]] = {
    "osmand": osmand_figure,
    "batch": batch_figure,
    "trips": trips_figure,
    "alarm_latency": alarm_latency_figure,
}


async def _run(short: bool) -> dict[str, Any]:
    from cloud.db.migrate import upgrade

    pg = _fresh_pg()
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-logistics-"))
    db_url = pg or f"sqlite:///{tmp / 'rel.db'}"
    influx = PrivateInflux(tmp / "influx")
    influx.start()
    proc = None
    try:
        await asyncio.to_thread(upgrade, db_url)
        trackers = await _seed(db_url, CLIENTS + 1)
        from cloud.timeseries.influx import InfluxStore

        store = InfluxStore(influx.url, database="dehong")
        await store.open()  # the database and its retention policies
        await store.close()
        port = free_port()
        env = {**os.environ, "DEHONG_DATABASE_URL": db_url, "DEHONG_INFLUX_URL": influx.url,
               "DEHONG_INFLUX_DB": "dehong", "DEHONG_POSITIONS_OSMAND_PORT": str(port)}  # fmt: skip
        proc = spawn(["logistics", "osmand-serve"], env, tmp / "osmand.log")
        url = f"http://127.0.0.1:{port}"
        await _wait_for(lambda: _http_ok(f"{url}/ping"), 30, "osmand-serve")
        ctx = Ctx(short, db_url, influx.url, url, proc.pid, trackers)
        figures = {name: await fn(ctx) for name, fn in FIGURES.items()}
    finally:
        if proc is not None:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 10)
        influx.stop()
        if pg:
            _drop_pg(pg)
    return {
        "bench": "logistics",
        "short": short,
        "relational": "postgresql" if pg else "sqlite",
        "timeseries": "influxdb",
        "run_id": secrets.token_hex(4),
        **figures,
        "goal_met": all(f.get("goal_met") for f in figures.values()),
    }


def run(short: bool = False) -> dict[str, Any]:
    # the 16 clients' per-request INFO lines would cost the generator more than the requests
    for name in ("httpx", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return asyncio.run(_run(short))
