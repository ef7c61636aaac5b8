"""``dehong bench services [--short] [--url PATH ...]``: the public-service system's
figures of issue 15, one JSON line.

1. **Public API at 100 concurrent clients**: ``dehong cloud serve`` in its own process,
   ``python -m bench.load`` in another driving it closed-loop with 100 clients, first a
   trivial endpoint (``/healthz``) as the baseline, then each public URL in turn (by
   default ``/api/v1/public/home`` and the ``/h5/`` page; ``--url`` adds more, e.g.
   ``/api/v1/public/stations`` once it lands), each after a warm-up at the same
   concurrency. The per-address rate limit stays on: the load comes from a pool of
   ``X-Forwarded-For`` addresses (uvicorn believes it from loopback), as many phones
   behind our proxy. Goal: p99 < 100 ms for every public URL, no errors.
2. **MOFCOM export of a year of simulated data**: ``cloud.commerce.sim`` writes 12
   months of orders (300 a day; ``--short`` 60); then each month's export is built and
   written as JSON and XLSX (``build_export``, ``write_export``), timed in this process.
   Goal: the 12 months together < 5 s.

The relational store is a fresh PostgreSQL database when one is reachable
(``DEHONG_TEST_PG_URL``), else SQLite.
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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.ingest import _drop_pg, _fresh_pg, _http_ok, _wait_for, spawn
from bench.servers import cpu_seconds, free_port

CONCURRENCY = 100
WARM_UP_S = 2.0
P99_GOAL_MS = 100.0
EXPORT_GOAL_S = 5.0
#: X-Forwarded-For addresses the load comes from (the rate limit sees this many clients)
FORWARDED_POOL = 50_000
DEFAULT_URLS = ("/api/v1/public/home", "/h5/")


async def _load(url: str, seconds: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", url, "--concurrency", str(CONCURRENCY),
        "--duration", str(seconds), "--forwarded-for", str(FORWARDED_POOL),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await proc.communicate()
    return orjson.loads(stdout)  # type: ignore[no-any-return]


async def public_api(
    env: dict[str, str], tmp: Path, urls: list[str], seconds: float
) -> dict[str, Any]:
    port = free_port()
    api = spawn(["cloud", "serve", "--port", str(port)], env, tmp / f"api-{port}.log")
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        await _wait_for(lambda: _http_ok(f"{base}/healthz"), 60, "API")
        for name, path in [("trivial_healthz", "/healthz"), *((u, u) for u in urls)]:
            await _load(base + path, WARM_UP_S)
            cpu0 = cpu_seconds(api.pid)
            got = await _load(base + path, seconds)
            got["api_cpu_ms_per_request"] = round(
                (cpu_seconds(api.pid) - cpu0) * 1000 / max(got["requests"], 1), 3
            )
            out[name] = got
    finally:
        api.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            api.wait(10)
    return out


async def export_year(db_url: str, tmp: Path, per_day: float) -> dict[str, Any]:
    from cloud.commerce.sim import simulate
    from cloud.db import Database
    from cloud.services.mofcom.export import build_export, write_export

    db = Database(db_url)
    try:
        today = datetime.now(UTC).date()
        end = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
        t0 = time.perf_counter()
        written = await simulate(db, months=12, end=end, per_day=per_day, seed=7)
        sim_s = time.perf_counter() - t0
        months = []
        y, m = end.year, end.month
        for _ in range(12):
            months.append(f"{y:04d}-{m:02d}")
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        months.reverse()
        per_month = []
        t0 = time.perf_counter()
        orders = 0
        for month in months:
            t1 = time.perf_counter()
            doc = await build_export(db, month)
            write_export(doc, tmp / "mofcom")
            per_month.append(time.perf_counter() - t1)
            pref = doc["counties"][-1]["sections"]["ecommerce"]["figures"]
            orders += int(pref["order_count"])
        total = time.perf_counter() - t0
    finally:
        await db.dispose()
    return {
        "simulated": written,
        "simulate_s": round(sim_s, 1),
        "months": [months[0], months[-1]],
        "orders_in_exports": orders,
        "export_year_s": round(total, 3),
        "export_month_max_s": round(max(per_month), 3),
        "export_month_mean_s": round(total / len(per_month), 3),
        "goal_s": EXPORT_GOAL_S,
    }


async def run_async(short: bool, urls: list[str]) -> dict[str, Any]:
    seconds = 8.0 if short else 20.0
    per_day = 60.0 if short else 300.0
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-services-"))
    pg = _fresh_pg()
    db_url = pg or f"sqlite:///{tmp / 'rel.db'}"
    result: dict[str, Any] = {
        "bench": "services", "short": short, "machine_cores": os.cpu_count(),
        "relational": "postgresql" if pg else "sqlite", "concurrency": CONCURRENCY,
        "seconds_per_url": seconds, "forwarded_for_pool": FORWARDED_POOL,
    }  # fmt: skip
    try:
        from cloud.db.migrate import upgrade_async

        await upgrade_async(db_url)
        result["mofcom_export"] = await export_year(db_url, tmp, per_day)
        env = {
            **os.environ,
            "DEHONG_DATABASE_URL": db_url,
            "DEHONG_JWT_SECRET": secrets.token_urlsafe(48),
            "DEHONG_INFLUX_URL": "",
            "DEHONG_TSDB_PATH": str(tmp / "ts.db"),
            "DEHONG_KEYS_DIR": str(tmp / "keys"),
            "DEHONG_FILESTORE_DIR": str(tmp / "files"),
            "DEHONG_MOSQUITTO_DIR": str(tmp / "mosquitto"),
        }
        result["public_api"] = await public_api(env, tmp, urls, seconds)
    finally:
        if pg:
            _drop_pg(pg)
    api = result["public_api"]
    trivial = api["trivial_healthz"]
    checks = {}
    for u in urls:
        r = api[u]
        r["ratio_rps_to_trivial"] = round(r["rps"] / max(trivial["rps"], 0.1), 3)
        checks[u] = bool(r["errors"] == 0 and (r["p99_ms"] or 1e9) < P99_GOAL_MS)
    result["p99_goal_ms"] = P99_GOAL_MS
    result["public_goal_met"] = checks
    result["export_goal_met"] = result["mofcom_export"]["export_year_s"] < EXPORT_GOAL_S
    result["goal_met"] = all(checks.values()) and result["export_goal_met"]
    return result


def run(short: bool = False, urls: list[str] | None = None) -> dict[str, Any]:
    return asyncio.run(run_async(short, list(urls or DEFAULT_URLS)))
