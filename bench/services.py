"""``dehong bench services [--short] [--url PATH ...] [--workers N]``: the public-service
system's figures of issue 15, one JSON line.

1. **Public API at 100 concurrent clients**: ``dehong cloud serve --workers N`` (default
   ``API_WORKERS``) in its own process(es) over the seeded demo (stations, registry and
   showcase, academy), PostgreSQL and a private InfluxDB (as deployed: ``/healthz``
   queries both). The trivial ``/livez`` (no store touched), ``/healthz`` (a round trip
   to each store) and the public paths (stations, showcase, its first item, home;
   ``--url`` adds more) in the same run, three phases (after a warm-up, for the first
   two):

   - **phones**: 100 clients that think 0.5-1.5 s between requests, 2 ``bench.load``
     processes of 50, every client going through the paths in turn;
   - **flat out**: 100 keep-alive connections with no think time, split evenly over the
     paths, one ``wrk`` process per path (C, Debian's; ``bench/wrk_flat.lua``), all at
     once: req/s, each path's p50/p90/p99/p99.9, the API's and wrk's CPU, and how the
     connections were shared out between the API processes (``ss``, mid-phase);
   - **flat out, each path alone** (``flat_out_each``): 100 keep-alive connections on
     one path at a time (one wrk process, half the phase's seconds per path).

   Goal: p99 < 100 ms for every public path, no errors, in **every** phase. The
   per-address rate limit stays on: the load comes from a pool of ``X-Forwarded-For``
   addresses (uvicorn believes it from loopback), as many phones behind our proxy.
2. **MOFCOM export of a year of simulated data**: ``cloud.commerce.sim`` writes 12
   months of orders (300 a day; ``--short`` 60); then each month's export is built and
   written as JSON and XLSX (``build_export``, ``write_export``), timed in this process.
   Goal: the 12 months together < 5 s.

The relational store is a fresh PostgreSQL database when one is reachable
(``DEHONG_TEST_PG_URL``), else SQLite. Needs ``wrk`` and ``influxd`` (both installed by
scripts/services.sh); either missing is said before anything runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.ingest import _drop_pg, _fresh_pg, _http_ok, _wait_for, spawn
from bench.load import percentile
from bench.servers import PrivateInflux, ServerMissing, cpu_seconds, free_port

CONCURRENCY = 100
#: load-generator processes the 100 phones are split over (each reports its CPU share)
GENERATORS = 2
#: API processes (``dehong cloud serve --workers``) unless ``--workers`` says otherwise
API_WORKERS = 2
#: the flat-out phase's load generator (Debian's wrk, C: one process per path, a thread
#: each; its script sets the X-Forwarded-For and prints the percentiles as JSON)
WRK_SCRIPT = Path(__file__).with_name("wrk_flat.lua")
#: the phones' mean think time (s) between a client's requests: uniform in [0.5, 1.5] s
THINK_S = 1.0
WARM_UP_S = 2.0
P99_GOAL_MS = 100.0
EXPORT_GOAL_S = 5.0
#: X-Forwarded-For addresses the load comes from (the rate limit sees this many clients)
FORWARDED_POOL = 50_000
#: the trivial endpoint (the process answers, no store touched): the floor beside which
#: the public API is judged
TRIVIAL = "/livez"
#: shown beside them: the readiness check, a PostgreSQL and an InfluxDB round trip each
STORES = "/healthz"
#: the issue's public API: the stations map, the showcase list and an item (``{item}``
#: is the first published entry's id, looked up once seeded), the H5 home's data
PUBLIC_URLS = (
    "/api/v1/public/stations",
    "/api/v1/public/showcase",
    "/api/v1/public/showcase/items/{item}",
    "/api/v1/public/home",
)


async def _generators(base: str, paths: list[str], seconds: float, think: float,
                      tmp: Path) -> dict[str, Any]:  # fmt: skip
    """``GENERATORS`` ``bench.load`` processes, ``CONCURRENCY`` clients in all, each
    client going through every path in turn (the trivial one among them): the
    latencies of all processes merged per path."""
    url_file = tmp / "urls.txt"
    url_file.write_text("".join(base + p + "\n" for p in paths))
    per = CONCURRENCY // GENERATORS
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.load",
            "--url-file",
            str(url_file),
            "--concurrency",
            str(per),
            "--duration",
            str(seconds),
            "--think",
            str(think),
            "--forwarded-for",
            str(FORWARDED_POOL),
            "--per-url",
            "--raw",
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(GENERATORS)
    ]
    outs = [orjson.loads((await p.communicate())[0]) for p in procs]
    elapsed = max(o["elapsed_s"] for o in outs)
    by_path: dict[str, Any] = {}
    for p in paths:
        lat = sorted(v for o in outs for v in o["by_url"][base + p]["latencies_ms"])
        errors = sum(o["by_url"][base + p]["errors"] for o in outs)
        by_path[p] = {
            "requests": len(lat),
            "rps": round(len(lat) / elapsed, 1),
            "p50_ms": percentile(lat, 0.50),
            "p90_ms": percentile(lat, 0.90),
            "p99_ms": percentile(lat, 0.99),
            "max_ms": lat[-1] if lat else None,
            "errors": errors,
        }
    return {
        "by_path": by_path,
        "rps": round(sum(o["requests"] for o in outs) / elapsed, 1),
        "generator_cpu_share": [o["cpu_share"] for o in outs],
    }


def wrk_binary() -> str:
    """The wrk binary, or ServerMissing saying how to get it."""
    found = shutil.which("wrk")
    if found is None:
        raise ServerMissing(
            "wrk not found: the flat-out phase of `dehong bench services` needs Debian's wrk "
            "(apt-get install wrk; scripts/services.sh installs it)"
        )
    return found


def split(total: int, parts: int) -> list[int]:
    """``total`` connections over ``parts`` paths, as evenly as whole numbers go."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def wrk_command(wrk: str, url: str, connections: int, seconds: float, offset: int) -> list[str]:
    """One path's wrk: one thread, ``connections`` keep-alive connections flat out for
    ``seconds``; X-Forwarded-For addresses from ``offset`` in the pool."""
    return [
        wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(WRK_SCRIPT), url, "--", str(FORWARDED_POOL), str(offset),
    ]  # fmt: skip


def parse_wrk(stdout: str) -> dict[str, Any]:
    """The JSON line the script prints at the end (wrk's own summary comes before it)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return dict(orjson.loads(line))
    raise RuntimeError(f"wrk printed no JSON line: {stdout[-500:]!r}")


async def connections_by_process(port: int) -> list[int]:
    """Established connections to ``port`` per server process, most first (``ss``): how
    the kernel's accepts shared the clients out between the API processes."""
    proc = await asyncio.create_subprocess_exec(
        "ss", "-tnpH", "state", "established", f"( sport = :{port} )",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await proc.communicate()
    pids: dict[str, int] = {}
    for line in out.decode().splitlines():
        for pid in re.findall(r"pid=(\d+)", line)[:1]:
            pids[pid] = pids.get(pid, 0) + 1
    return sorted(pids.values(), reverse=True)


async def _wrk_flat(base: str, paths: list[str], seconds: float) -> dict[str, Any]:
    """``CONCURRENCY`` connections flat out, split over the paths, one wrk process per
    path, all at once: each path's own percentiles, the total req/s and wrk's CPU (the
    children's rusage: the API is not reaped until the end)."""
    wrk = wrk_binary()
    conns = split(CONCURRENCY, len(paths))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    procs = [
        await asyncio.create_subprocess_exec(
            *wrk_command(wrk, base + p, c, seconds, i * (FORWARDED_POOL // len(paths))),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for i, (p, c) in enumerate(zip(paths, conns, strict=True))
    ]
    await asyncio.sleep(seconds / 2)
    split_out = await connections_by_process(int(base.rsplit(":", 1)[1]))
    outs = []
    for proc in procs:
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"wrk exited with {proc.returncode}: {err.decode()[-500:]}")
        outs.append(parse_wrk(out.decode()))
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    by_path: dict[str, Any] = {}
    for p, c, o in zip(paths, conns, outs, strict=True):
        by_path[p] = {
            "connections": c,
            "requests": o["requests"],
            "rps": round(o["requests"] / o["duration_s"], 1),
            **{k: round(o[k], 1) for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")},
            "errors": sum(o["errors"].values()),
            **({"error_kinds": o["errors"]} if sum(o["errors"].values()) else {}),
        }
    return {
        "by_path": by_path,
        "rps": round(sum(r["rps"] for r in by_path.values()), 1),
        "generator": "wrk",
        "generator_cpu_share": round(cpu / wall, 3),
        "connections_per_api_process": split_out,
    }


def procs_running() -> int:
    """Runnable tasks on the machine now (``/proc/stat``), this bench's among them."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("procs_running"):
            return int(line.split()[1])
    return 0


async def _sample_runnable(into: list[int], every_s: float = 0.5) -> None:
    """``procs_running`` every ``every_s`` until cancelled: how crowded the cores were."""
    while True:
        into.append(procs_running())
        await asyncio.sleep(every_s)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (``--workers``: the workers)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(tree_cpu_seconds(int(c)) for c in children)
    return total


async def _seed(db_url: str, files_dir: Path, pii_keys: str) -> dict[str, Any]:
    """The demo's stations (19, with households), registry and showcase, academy; the
    personal fields sealed with this run's own key (``pii_keys``, as the server's)."""
    from cloud.db import Database
    from cloud.inspections.files import LocalFileStore
    from cloud.pii import Keyring
    from cloud.services.registry.demo import seed_demo as seed_registry
    from cloud.services.stations.seed import seed_demo as seed_stations
    from cloud.services.training.demo import seed_demo as seed_training

    db = Database(db_url)
    try:
        async with db.transaction() as s:
            ring = Keyring.parse(pii_keys)
            got = {"stations": await seed_stations(s, ring)}
            got["training"] = await seed_training(s, ring)
            await seed_registry(s, LocalFileStore(files_dir))
    finally:
        await db.dispose()
    return got


async def public_api(
    env: dict[str, str], tmp: Path, paths: list[str], seconds: float, workers: int
) -> dict[str, Any]:
    """The trivial and the public paths, twice: 100 phones with a think time (interleaved
    request by request, ``bench.load``), then 100 connections flat out (wrk, one process
    per path, all at once); ``workers`` API processes."""
    wrk_binary()  # missing: said before anything is started
    port = free_port()
    many = ["--workers", str(workers)] if workers > 1 else []
    api = spawn(["cloud", "serve", "--port", str(port), *many], env, tmp / f"api-{port}.log")
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"api_workers": workers}
    try:
        await _wait_for(lambda: _http_ok(f"{base}/healthz"), 60, "API")
        async with httpx.AsyncClient(base_url=base) as c:
            listed = (await c.get("/api/v1/public/showcase")).json()["items"]
            item = listed[0]["id"]
            sizes = {}
            for p in paths:
                r = await c.get(p.format(item=item))
                r.raise_for_status()
                sizes[p] = len(r.content)
        mix = [TRIVIAL, STORES, *(p.format(item=item) for p in paths)]
        out["paths"] = mix
        out["body_bytes"] = {TRIVIAL: None, STORES: None,
                             **{p.format(item=item): b for p, b in sizes.items()}}  # fmt: skip
        for name in PHASES:
            if name == "phones":
                await _generators(base, mix, WARM_UP_S, THINK_S, tmp)
            elif name == "flat_out":
                await _wrk_flat(base, mix, WARM_UP_S)
            load0 = os.getloadavg()
            runnable: list[int] = []
            sampler = asyncio.ensure_future(_sample_runnable(runnable))
            cpu0, t0 = tree_cpu_seconds(api.pid), time.monotonic()
            try:
                if name == "phones":
                    got = await _generators(base, mix, seconds, THINK_S, tmp)
                elif name == "flat_out":
                    got = await _wrk_flat(base, mix, seconds)
                else:
                    got = await _wrk_each(base, mix, seconds / 2)
            finally:
                sampler.cancel()
            cpu = tree_cpu_seconds(api.pid) - cpu0
            n = sum(r["requests"] for r in got["by_path"].values())
            got["api_cpu_share"] = round(cpu / (time.monotonic() - t0), 3)
            got["api_cpu_ms_per_request"] = round(cpu * 1000 / max(n, 1), 3)
            got["load_avg"] = [load0[0], os.getloadavg()[0]]
            # runnable tasks on the 2 cores meanwhile (API, generators, stores, others')
            got["runnable_mean_max"] = [round(sum(runnable) / max(len(runnable), 1), 1),
                                        max(runnable, default=0)]  # fmt: skip
            out[name] = got
    finally:
        api.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            api.wait(15)
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


async def _wrk_each(base: str, paths: list[str], seconds: float) -> dict[str, Any]:
    """Each path alone, one after the other: ``CONCURRENCY`` connections flat out on it
    (one wrk process): "p99 at 100 concurrent" of that path, with the others idle."""
    by_path: dict[str, Any] = {}
    cpu = []
    for p in paths:
        got = await _wrk_flat(base, [p], seconds)
        by_path.update(got["by_path"])
        by_path[p]["connections_per_api_process"] = got["connections_per_api_process"]
        cpu.append(got["generator_cpu_share"])
    return {"by_path": by_path, "generator": "wrk", "generator_cpu_share_max": max(cpu)}


#: the phases of the public API: 100 phones with a think time; 100 connections flat
#: out over every path at once (one wrk process per path); each path alone with 100
PHASES = ("phones", "flat_out", "flat_out_each")


async def run_async(short: bool, extra: list[str], workers: int = API_WORKERS) -> dict[str, Any]:
    seconds = 8.0 if short else 20.0
    per_day = 60.0 if short else 300.0
    paths = [*PUBLIC_URLS, *extra]
    wrk_binary()  # missing: said before the export's minutes
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-services-"))
    influx = PrivateInflux(tmp / "influx")
    influx.start()
    pg = _fresh_pg()
    db_url = pg or f"sqlite:///{tmp / 'rel.db'}"
    result: dict[str, Any] = {
        "bench": "services", "short": short, "machine_cores": os.cpu_count(),
        "load_avg_start": os.getloadavg(), "relational": "postgresql" if pg else "sqlite",
        "concurrency": CONCURRENCY, "api_workers": workers, "phones_generators": GENERATORS,
        "flat_out_generator": "wrk, one process per path", "think_s": [THINK_S / 2,
        THINK_S * 1.5], "seconds_per_phase": seconds, "forwarded_for_pool": FORWARDED_POOL,
    }  # fmt: skip
    try:
        from cloud.db.migrate import upgrade_async

        await upgrade_async(db_url)
        result["mofcom_export"] = await export_year(db_url, tmp, per_day)
        pii_keys = "bench:" + base64.b64encode(secrets.token_bytes(32)).decode()
        result["seeded"] = await _seed(db_url, tmp / "files", pii_keys)
        env = {
            "DEHONG_PII_KEYS": pii_keys,
            **os.environ,
            "DEHONG_DATABASE_URL": db_url,
            "DEHONG_JWT_SECRET": secrets.token_urlsafe(48),
            # the time-series store as deployed (InfluxDB, private): /healthz pings it
            "DEHONG_INFLUX_URL": influx.url,
            "DEHONG_INFLUX_DB": "dehong",
            "DEHONG_KEYS_DIR": str(tmp / "keys"),
            "DEHONG_FILESTORE_DIR": str(tmp / "files"),
            "DEHONG_MOSQUITTO_DIR": str(tmp / "mosquitto"),
        }
        result["public_api"] = await public_api(env, tmp, paths, seconds, workers)
    finally:
        influx.stop()
        if pg:
            _drop_pg(pg)
    result["load_avg_end"] = os.getloadavg()
    api = result["public_api"]
    public = [p for p in api["paths"] if p not in (TRIVIAL, STORES)]

    def met(phase: str) -> dict[str, bool]:
        got = api[phase]["by_path"]
        return {p: bool(got[p]["errors"] == 0 and (got[p]["p99_ms"] or 1e9) < P99_GOAL_MS)
                for p in public}  # fmt: skip

    result["p99_goal_ms"] = P99_GOAL_MS
    result["public_goal_met"] = {phase: met(phase) for phase in PHASES}
    result["export_goal_met"] = result["mofcom_export"]["export_year_s"] < EXPORT_GOAL_S
    result["goal_met"] = (
        all(v for phase in result["public_goal_met"].values() for v in phase.values())
        and result["export_goal_met"]
    )
    return result


def run(
    short: bool = False, urls: list[str] | None = None, workers: int = API_WORKERS
) -> dict[str, Any]:
    return asyncio.run(run_async(short, list(urls or ()), workers))
