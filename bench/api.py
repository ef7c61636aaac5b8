"""``dehong bench api [--short]``: the series API against a trivial endpoint, on
InfluxDB and on the embedded SQLite store, in one run.

For each store: 24 h of 1 Hz readings of one cold room (86,400 points, temperature
and humidity) are written and rolled up by the roll-up job, but for the minutes of
the last 110 s, which stay marked (their hour too), as live data leaves them. Then
``dehong cloud serve`` runs in its own process and ``python -m bench.load`` in
another drives it with 16 concurrent clients, first ``/api/v1/auth/me`` (token check
and one database query), then ``/api/v1/devices/{id}/series`` over the last 24 h
(default windows: 5 min), each after 2 s of the same load left out (a warm-up), so
the baseline is measured on the same server, data and machine; then the series over
the last 24 h up to each request's now (the default range) while a live cold room
(``bench.live_writer``, its own process) writes a reading a second into it, marks it
as an ingest worker does and runs the roll-up job every 30 s (``series_24h_live``):
a warm answer costs no time-series request only until data arrives, so this is the
realistic case. Goals, for both series phases: req/s >= 0.5x the trivial endpoint's,
p99 < 200 ms. Each phase also reports the time-series store requests the API sent per
request (``store_requests_per_request``, from its ``/metrics``).

The relational store is a fresh PostgreSQL database when one is reachable
(``DEHONG_TEST_PG_URL``), else SQLite; InfluxDB is a private ``influxd`` on free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.ingest import _drop_pg, _fresh_pg, _http_ok, _wait_for, spawn
from bench.servers import PrivateInflux, cpu_seconds, free_port
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.timeseries import Point, TimeSeriesStore
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.rollup import RollupJob, mark
from cloud.timeseries.sqlite import SqliteStore
from cloud.timeseries.windows import DAY_MS

DEVICE = "apibench.room-0"
CONCURRENCY = 16
#: Each endpoint is driven this long before it is measured.
WARM_UP_S = 2.0
RPS_RATIO_GOAL = 0.5
P99_GOAL_MS = 200.0


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


#: How much of the live hour is not rolled up yet: with the ingest workers' defaults a
#: minute's last mark comes as it ends, settles 20 s later and waits up to 30 s for
#: the job's next run (``RollupJob``), so the oldest minute still marked started at
#: most about 110 s ago. Marked here: every minute with readings of the last 110 s
#: (110-170 s of readings read raw: the worst case, and a margin for batching).
LIVE_RAW_MS = 110_000


async def seed(db: Database, tsdb: TimeSeriesStore, end_ms: int) -> dict[str, int]:
    """24 h of 1 Hz points up to ``end_ms``; every hour but the current one rolled up,
    and the current hour as the ingest workers leave it: marked, its minutes rolled up
    (1-min roll-ups) but for those of the last ``LIVE_RAW_MS``, marked too."""
    start = end_ms - DAY_MS
    points = [
        Point(
            "cold_room",
            DEVICE,
            "533103",
            "apibench",
            t,
            {"temperature": round(4 + (t // 1000 % 600) / 300, 3), "humidity": 82.0},
        )
        for t in range(start, end_ms, 1000)
    ]
    for i in range(0, len(points), 5000):
        await tsdb.write(points[i : i + 5000])
    settled = [p for p in points if p.ts_ms < end_ms - LIVE_RAW_MS]
    await mark(db, settled)
    hours = await RollupJob(db, tsdb).run_until_idle()
    recent = [p for p in points if p.ts_ms >= end_ms - LIVE_RAW_MS]
    await mark(db, recent)  # the live hour marked again, and its last minutes
    return {"points": len(points), "hours_rolled_up": hours, "live_points_marked": len(recent)}


async def _load(url: str, token: str, seconds: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        url,
        "--header",
        f"Authorization: Bearer {token}",
        "--concurrency",
        str(CONCURRENCY),
        "--duration",
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await proc.communicate()
    return orjson.loads(stdout)  # type: ignore[no-any-return]


def _writer(env: dict[str, str], store_args: list[str]) -> subprocess.Popen[bytes]:
    """A live cold room writing into the series in its own process (``bench.live_writer``)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.live_writer",
            env["DEHONG_DATABASE_URL"],
            *store_args,
            DEVICE,
            "533103",
        ],
        env=env,
        stdout=subprocess.PIPE,
    )


async def measure(
    env: dict[str, str],
    token: str,
    tmp: Path,
    seconds: float,
    influxd_pid: int | None,
    store_args: list[str],
) -> dict[str, Any]:
    """``/auth/me``, then ``/series`` 24 h, then ``/series`` over the last 24 h while a
    live cold room writes into it (``series_24h_live``), on one ``dehong cloud serve``."""
    port = free_port()
    api = spawn(["cloud", "serve", "--port", str(port)], env, tmp / f"api-{port}.log")
    base = f"http://127.0.0.1:{port}"
    writer: subprocess.Popen[bytes] | None = None
    try:
        await _wait_for(lambda: _http_ok(f"{base}/healthz"), 60, "API")
        end = int(time.time() * 1000)
        series = f"{base}/api/v1/devices/{DEVICE}/series?metric=temperature"
        out: dict[str, Any] = {}
        for name, url in (
            ("trivial_auth_me", f"{base}/api/v1/auth/me"),
            ("series_24h", f"{series}&start={_iso(end - DAY_MS)}&end={_iso(end)}"),
            # the default range, the last 24 h up to each request's now: every answer
            # holds the readings written up to it
            ("series_24h_live", series),
        ):
            if name == "series_24h_live":
                writer = _writer(env, store_args)
            pids = {"api": api.pid, **({"influxd": influxd_pid} if influxd_pid else {})}
            # warmed up at the same concurrency first, the answer left out: a fresh
            # process's first requests fill its caches (connections, compiled statements,
            # the series' hours), which a running API has done long before
            await _load(url, token, WARM_UP_S)
            cpu0 = {k: cpu_seconds(pid) for k, pid in pids.items()}
            reads0 = await _store_requests(base, env["DEHONG_METRICS_TOKEN"])
            out[name] = await _load(url, token, seconds)
            reads = await _store_requests(base, env["DEHONG_METRICS_TOKEN"]) - reads0
            # CPU per request of the API process (and of influxd), from /proc
            n = max(out[name]["requests"], 1)
            # time-series store requests the API's series query layer sent, per request
            out[name]["store_requests_per_request"] = round(reads / n, 4)
            for k, pid in pids.items():
                out[name][f"{k}_cpu_ms_per_request"] = round(
                    (cpu_seconds(pid) - cpu0[k]) * 1000 / n, 2
                )
        if writer is not None:
            writer.terminate()
            stdout, _ = writer.communicate(timeout=30)
            out["live_writer"] = orjson.loads(stdout) if stdout.strip() else None
            writer = None
        trivial = out["trivial_auth_me"]
        goal = True
        for name, key in (("series_24h", ""), ("series_24h_live", "_live")):
            ratio = round(out[name]["rps"] / max(trivial["rps"], 0.1), 3)
            out[f"ratio_series{key}_to_trivial"] = ratio
            goal = goal and bool(
                ratio >= RPS_RATIO_GOAL
                and (out[name]["p99_ms"] or 1e9) < P99_GOAL_MS
                and out[name]["errors"] == 0
            )
        out["goal_met"] = bool(
            goal and trivial["errors"] == 0 and (out["live_writer"] or {}).get("points", 0) > 0
        )
        return out
    finally:
        if writer is not None:
            writer.kill()
        api.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            api.wait(10)


async def _store_requests(base: str, token: str) -> float:
    """The API process's ``dehong_series_store_requests_total`` (``/metrics``)."""
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    for line in r.text.splitlines():
        if line.startswith("dehong_series_store_requests_total "):
            return float(line.split()[1])
    raise RuntimeError("/metrics has no dehong_series_store_requests_total")


async def _user_token(db: Database, secret: str) -> str:
    from cloud.auth.principal import Role
    from cloud.auth.service import create_user, issue_token
    from cloud.db import utcnow
    from cloud.devices.storage import Device

    async with db.transaction() as s:
        s.add(
            Device(
                id=DEVICE,
                county="533103",
                kind="cold_room",
                site="apibench",
                gateway_id="apibench",
                metrics=["humidity", "temperature"],
                first_seen_at=utcnow(),
                last_seen_at=utcnow(),
                last_reading_ms=int(time.time() * 1000),
                readings=172_800,
            )
        )
        user = await create_user(
            s,
            username="bench-admin",
            password=secrets.token_urlsafe(16),
            role=Role.PREFECTURE_ADMIN,
            county="533100",
            display_name="",
            actor="bench",
        )
    token, _ = issue_token(user, secret, 3600)
    return token


async def run_async(short: bool) -> dict[str, Any]:
    seconds = 8.0 if short else 20.0
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-api-"))
    influx = PrivateInflux(tmp / "influx")
    influx.start()
    pg = _fresh_pg()
    db_url = pg or f"sqlite:///{tmp / 'rel.db'}"
    result: dict[str, Any] = {
        "bench": "api",
        "short": short,
        "machine_cores": os.cpu_count(),
        "relational": "postgresql" if pg else "sqlite",
        "concurrency": CONCURRENCY,
        "seconds_per_endpoint": seconds,
    }
    try:
        await upgrade_async(db_url)
        db = Database(db_url)
        secret = secrets.token_urlsafe(48)
        token = await _user_token(db, secret)
        base_env = {
            **os.environ,
            "DEHONG_DATABASE_URL": db_url,
            "DEHONG_JWT_SECRET": secret,
            "DEHONG_METRICS_TOKEN": secrets.token_urlsafe(32),
        }
        stores: list[tuple[str, TimeSeriesStore, dict[str, str], list[str]]] = [
            (
                "influxdb",
                InfluxStore(influx.url, database="dehong", timeout_s=60),
                {"DEHONG_INFLUX_URL": influx.url, "DEHONG_INFLUX_DB": "dehong"},
                ["influx", influx.url, "dehong"],
            ),
            (
                "sqlite",
                SqliteStore(tmp / "ts.db"),
                {"DEHONG_INFLUX_URL": "", "DEHONG_TSDB_PATH": str(tmp / "ts.db")},
                ["sqlite", str(tmp / "ts.db")],
            ),
        ]
        for name, store, env, store_args in stores:
            await store.open()
            try:
                data = await seed(db, store, int(time.time() * 1000))
            finally:
                await store.close()
            pid = influx.proc.pid if name == "influxdb" and influx.proc else None
            got = await measure({**base_env, **env}, token, tmp, seconds, pid, store_args)
            result[name] = {"data": data, **got}
        await db.dispose()
    finally:
        influx.stop()
        if pg:
            _drop_pg(pg)
    result["goal_met"] = all(result.get(n, {}).get("goal_met") for n in ("influxdb", "sqlite"))
    return result


def run(short: bool = False) -> dict[str, Any]:
    return asyncio.run(run_async(short))
