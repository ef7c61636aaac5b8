"""``python -m bench.evidence [--short]``: sensor evidence of one 48 h interval of 1 Hz
data (issue 11), on InfluxDB (a private ``influxd``) and on the embedded SQLite store.

For each store: 50 hours of 1 Hz readings of one cold room (temperature and humidity,
with one 10-minute excursion above 8 °C) are written; the roll-up job rolls up every
hour but the current one, which stays marked, as live data leaves it. Then, over
[H − 49 h + 12.345 s, H − 1 h + 12.345 s) (H: the current hour; 172,800 readings), each
repeated and timed:

- ``baseline_raw_read``: a plain query reading the interval's raw temperatures (what
  any raw computation must at least do);
- ``evidence_raw``: ``evidence(source="raw")``, every reading read and weighed;
- ``evidence_auto``: ``evidence()`` with the roll-up state (one relational query): the
  current roll-ups stand in for the raw readings they equal, raw for the edges and the
  excursion hour; the answer is the raw answer (checked here);
- ``evidence_rollup``: ``evidence(source="rollup")``: roll-ups for every whole window,
  raw for the partial minutes at the ends.

Goal (issue 11): under 100 ms from raw and from roll-ups: ``evidence_auto`` and
``evidence_rollup`` p99 under 100 ms on both stores. One JSON line; the relational store
is a fresh PostgreSQL database when one is reachable, else SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete

from bench.ingest import _drop_pg, _fresh_pg
from bench.servers import PrivateInflux
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.timeseries import Point, TimeSeriesStore
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.kinetics import Evidence
from cloud.timeseries.lineprotocol import quote_ident
from cloud.timeseries.rollup import RollupJob, mark, rollup_state
from cloud.timeseries.rollup_storage import RollupGeneration, RollupPending
from cloud.timeseries.sqlite import SqliteStore
from cloud.timeseries.windows import HOUR_MS

DEVICE = "evbench.room-0"
COUNTY = "533103"
GOAL_MS = 100.0
LOW, HIGH = 2.0, 8.0


def _value(t: int, excursion: int) -> float:
    if excursion <= t < excursion + 600_000:
        return 9.5
    return round(4.0 + 2.0 * math.sin(t / 5_400_000), 3)


async def seed(db: Database, tsdb: TimeSeriesStore, hour: int, now: int) -> dict[str, int]:
    """1 Hz from 50 h before ``hour`` to ``now``; every hour before ``hour`` rolled up."""
    excursion = hour - 20 * HOUR_MS + 1_234_000
    points = [
        Point(
            "cold_room",
            DEVICE,
            COUNTY,
            "evbench",
            t,
            {"temperature": _value(t, excursion), "humidity": 80.0 + (t // 60_000) % 7},
        )
        for t in range(hour - 50 * HOUR_MS, now, 1000)
    ]
    old = [p for p in points if p.ts_ms < hour]
    live = [p for p in points if p.ts_ms >= hour]
    for i in range(0, len(old), 5000):
        await tsdb.write(old[i : i + 5000])
    await mark(db, old)
    hours = await RollupJob(db, tsdb).run_until_idle()
    await tsdb.write(live)
    await mark(db, live)
    return {"points": len(points), "hours_rolled_up": hours, "live_points": len(live)}


async def _baseline(tsdb: TimeSeriesStore, start: int, end: int) -> int:
    """Read the interval's raw temperatures with a plain query; returns how many."""
    if isinstance(tsdb, InfluxStore):
        series = await tsdb.query(
            f'SELECT "temperature" FROM {quote_ident(tsdb.database)}."raw"."cold_room" '
            f"WHERE device = '{DEVICE}' AND time >= {start}ms AND time < {end}ms"
        )
        return sum(len(s.get("values", [])) for s in series)
    assert isinstance(tsdb, SqliteStore)

    def _q(db: Any) -> int:
        return len(
            db.execute(
                "SELECT ts, value FROM points WHERE measurement = 'cold_room' AND device = ? "
                "AND field = 'temperature' AND ts >= ? AND ts < ? ORDER BY ts",
                (DEVICE, start, end),
            ).fetchall()
        )

    return int(await tsdb._run(_q))


async def _time(fn: Callable[[], Awaitable[Any]], reps: int) -> tuple[dict[str, float], Any]:
    for _ in range(2):
        out = await fn()
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        out = await fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, math.ceil(0.99 * len(samples)) - 1)]
    return {"p50_ms": round(statistics.median(samples), 2), "p99_ms": round(p99, 2)}, out


def _summary(e: Evidence) -> dict[str, Any]:
    return {
        "n": e.n,
        "mean": round(e.mean, 6) if e.mean is not None else None,
        "mkt": round(e.mkt, 6) if e.mkt is not None else None,
        "coverage": round(e.coverage, 6),
        "seconds_above": round(e.seconds_above, 3),
        "uncertain_s": round(e.uncertain_s, 3),
        "source": e.source,
        "rollup_s": e.rollup_s,
    }


async def measure(db: Database, tsdb: TimeSeriesStore, hour: int, reps: int) -> dict[str, Any]:
    start, end = hour - 49 * HOUR_MS + 12_345, hour - HOUR_MS + 12_345

    async def evidence(source: str) -> Evidence:
        async with db.session() as s:
            return await tsdb.evidence(
                DEVICE,
                "temperature",
                start,
                end,
                counties=[COUNTY],
                poll_interval_s=1.0,
                low=LOW,
                high=HIGH,
                measurement="cold_room",
                source=source,  # type: ignore[arg-type]
                rollups=partial(rollup_state, s) if source == "auto" else None,
            )

    out: dict[str, Any] = {}
    out["baseline_raw_read"], count = await _time(lambda: _baseline(tsdb, start, end), reps)
    out["baseline_raw_read"]["points"] = count
    got: dict[str, Evidence] = {}
    for source in ("raw", "auto", "rollup"):
        out[f"evidence_{source}"], got[source] = await _time(partial(evidence, source), reps)
        out[f"evidence_{source}"]["evidence"] = _summary(got[source])
    raw, auto, rollup = got["raw"], got["auto"], got["rollup"]
    out["auto_equals_raw"] = bool(
        auto.n == raw.n
        and math.isclose(auto.mkt or 0, raw.mkt or 1, rel_tol=1e-9)
        and math.isclose(auto.seconds_above, raw.seconds_above, rel_tol=1e-9, abs_tol=1e-6)
        and math.isclose(auto.covered_s, raw.covered_s, rel_tol=1e-9)
    )
    out["rollup_within_0_1_c"] = bool(
        abs((rollup.mkt or 0) - (raw.mkt or 1e9)) <= 0.1
        and abs((rollup.mean or 0) - (raw.mean or 1e9)) <= 0.1
    )
    out["goal_met"] = bool(
        out["evidence_auto"]["p99_ms"] < GOAL_MS
        and out["evidence_rollup"]["p99_ms"] < GOAL_MS
        and out["auto_equals_raw"]
        and out["rollup_within_0_1_c"]
    )
    return out


async def run_async(short: bool) -> dict[str, Any]:
    reps = 10 if short else 40
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-evidence-"))
    influx = PrivateInflux(tmp / "influx")
    influx.start()
    pg = _fresh_pg()
    db_url = pg or f"sqlite:///{tmp / 'rel.db'}"
    result: dict[str, Any] = {
        "bench": "evidence",
        "short": short,
        "machine_cores": os.cpu_count(),
        "relational": "postgresql" if pg else "sqlite",
        "interval_h": 48,
        "rate_hz": 1,
        "repetitions": reps,
        "goal_ms": GOAL_MS,
    }
    try:
        await upgrade_async(db_url)
        now = int(time.time() * 1000)
        hour = now // HOUR_MS * HOUR_MS
        stores: list[tuple[str, TimeSeriesStore]] = [
            ("influxdb", InfluxStore(influx.url, database="dehong", timeout_s=60)),
            ("sqlite", SqliteStore(tmp / "ts.db")),
        ]
        for name, store in stores:
            db = Database(db_url)
            await store.open()
            try:
                async with db.transaction() as s:  # each store's roll-up state from scratch
                    await s.execute(delete(RollupPending))
                    await s.execute(delete(RollupGeneration))
                data = await seed(db, store, hour, now)
                result[name] = {"data": data, **await measure(db, store, hour, reps)}
            finally:
                await store.close()
                await db.dispose()
    finally:
        influx.stop()
        if pg:
            _drop_pg(pg)
    result["goal_met"] = all(result.get(n, {}).get("goal_met") for n in ("influxdb", "sqlite"))
    return result


def run(short: bool = False) -> dict[str, Any]:
    return asyncio.run(run_async(short))


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.evidence", description=__doc__)
    p.add_argument("--short", action="store_true", help="10 repetitions instead of 40")
    result = run(short=p.parse_args().short)
    print(orjson.dumps(result).decode())
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
