"""``dehong bench edge``: the durable buffer's figures, baseline and slow fsync in the same run.

Each buffer measurement runs in a child process (``python -m bench.edge buffer``)
under an LD_PRELOAD shim compiled with gcc at bench time: the shim counts
``fsync``/``fdatasync`` calls (fsyncs/s) and, for the SD-card variant, sleeps
20 ms in each before calling the real one. In the same child, the baseline: raw
SQLite inserts of the same rows with the same settings (WAL, synchronous=FULL),
one transaction per 100 ms worth of rows, nothing else.

Figures:

- readings/s taken into the durable buffer (handed over by a producer as fast
  as the buffer takes them, 50 readings per sample like a 50-register Modbus
  device), p99 hand-over-to-fsync, fsyncs/s, bytes written to storage per
  reading (``/proc/self/io``; 0 where the kernel does not account it);
- the same with every fsync slowed to 20 ms;
- the gateway under Modbus load (see :mod:`bench.edge_load`; needs the shared
  Mosquitto on 127.0.0.1:1883) twice in the same run: alone, and beside a fixed
  CPU load (the coffee inspection looping over two simulated trays on one core,
  as the camera program shares a real gateway's CPU); polls lost (ticks skipped)
  and late (taken late, stamped with their real time) in both;
- the ThingsBoard IoT gateway against the same Modbus peer and load in the same
  run (:mod:`bench.tbgateway`, its own venv): our datapoints per CPU-second over
  its; where it cannot run, its recorded figure, labelled as recorded;
- RSS at 1,000 readings/s;
- backlog drain (:mod:`bench.drain`): an outage of 1,000 readings/s (1 hour;
  ``--short``: 10 minutes) in the gateway's buffer file, drained by ``dehong edge
  run`` at the shipped token bucket through a private Mosquitto, ``dehong cloud
  ingest`` and a private InfluxDB, write-acks and all, while live Modbus data keeps
  arriving; reported as a multiple of real time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static long delay_us = -1;
static unsigned long calls = 0;
static void before_sync(void) {
    if (delay_us < 0) { const char *e = getenv("DEHONG_FSYNC_DELAY_US"); delay_us = e ? atol(e) : 0; }
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    if (delay_us > 0) {
        struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
        nanosleep(&ts, NULL);
    }
}
int fsync(int fd) {
    static int (*real)(int) = NULL;
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    before_sync(); return real(fd);
}
int fdatasync(int fd) {
    static int (*real)(int) = NULL;
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    before_sync(); return real(fd);
}
unsigned long dehong_fsync_calls(void) { return __atomic_load_n(&calls, __ATOMIC_RELAXED); }
__attribute__((destructor)) static void report(void) {
    const char *path = getenv("DEHONG_FSYNC_COUNT_FILE");
    if (path) { FILE *f = fopen(path, "w"); if (f) { fprintf(f, "%lu\n", calls); fclose(f); } }
}
"""

METRICS_PER_SAMPLE = 50
SD_FSYNC_MS = 20
GOALS = {
    "readings_per_s": 50_000,
    "slow_readings_per_s": 20_000,
    "p99_ms": 250.0,
    "drain_x": 20.0,
    # our datapoints per CPU-second over the ThingsBoard gateway's, same load, same run
    "modbus_x_thingsboard": 2.0,
    "rss_mb": 80.0,
    # "no upward slope": within measurement noise (allocator, page cache of the buffer file)
    "rss_slope_mb_per_min": 0.1,
}
#: RSS moves in allocator steps of a few hundred kB
RSS_RESOLUTION_MB = 0.5


def build_shim(workdir: Path) -> Path:
    """Compile the fsync shim with gcc; raise with what to install if it is missing."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc not found: apt-get install gcc (the slow-fsync shim is compiled)")
    src, lib = workdir / "fsync_shim.c", workdir / "fsync_shim.so"
    src.write_text(SHIM_C)
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(src), "-ldl"], check=True)
    return lib


def write_bytes() -> int:
    from edge.health import write_bytes as wb

    return wb() or 0


def fsync_calls() -> int:
    """fsync + fdatasync calls so far, from the preloaded shim (0 without it)."""
    import ctypes

    try:
        return int(ctypes.CDLL(None).dehong_fsync_calls())
    except AttributeError:
        return 0


# ------------------------------------------------------------- child: buffer


async def measure_buffer(path: Path, seconds: float) -> dict[str, Any]:
    from edge.buffer import Buffer
    from edge.config import BufferConfig
    from edge.drivers.base import Sample
    from edge.state import StateStore

    buf = Buffer(path / "buffer.db", "bench-gw", StateStore(path), BufferConfig())
    await buf.open()
    t0 = (int(time.time()) - 3600) * 1000
    values = {f"r{k}": float(k) for k in range(METRICS_PER_SAMPLE)}
    n = 0
    before_io = write_bytes()
    before_fsyncs = fsync_calls()
    before_commits = buf.counters.commits
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    next_cut = loop.time() + 1.0
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            buf.put_sample(Sample(device=f"bench-gw.dev-{n % 100}", ts_ms=t0 + n, values=values))
            n += 1
        untaken = n - buf.counters.taken_samples
        if untaken * METRICS_PER_SAMPLE > 60_000:
            await buf.flush()  # back-pressure: never more than ~one big commit queued
        else:
            await asyncio.sleep(0)
        if loop.time() >= next_cut:
            buf.cut()  # a batch per second, as a busy gateway would
            next_cut += 1.0
    await buf.flush()
    elapsed = time.perf_counter() - started
    taken = buf.counters.taken
    io = write_bytes() - before_io
    fsyncs = fsync_calls() - before_fsyncs
    lat = sorted(buf.commit_latency_ms)
    commits = buf.counters.commits - before_commits
    await buf.close()
    return {
        "readings_per_s": round(taken / elapsed),
        "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 1) if lat else None,
        "p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "commits_per_s": round(commits / elapsed, 1),
        "fsyncs_per_s": round(fsyncs / elapsed, 1),
        "bytes_written_per_reading": round(io / taken, 2) if taken else None,
        "readings": taken,
        "seconds": round(elapsed, 2),
    }


def measure_baseline(path: Path, seconds: float) -> dict[str, Any]:
    """Raw SQLite: the same rows, same settings, one transaction per ~100 ms of rows."""
    import sqlite3

    import orjson

    db = sqlite3.connect(path / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE samples (id INTEGER PRIMARY KEY, ts_ms INTEGER, mono_ms INTEGER, "
        "boot INTEGER, held INTEGER, body BLOB)"
    )
    body = orjson.dumps(["bench-gw.dev-0", "cold_room", None, 0,
                         {f"r{k}": float(k) for k in range(METRICS_PER_SAMPLE)}, {}])  # fmt: skip
    n = 0
    before_fsyncs = fsync_calls()
    started = time.perf_counter()
    group = 2000
    while time.perf_counter() - started < seconds:
        rows = [(n + i, n + i, n + i, 1, 0, body) for i in range(group)]
        db.execute("BEGIN")
        db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
        n += group
    elapsed = time.perf_counter() - started
    db.close()
    return {
        "readings_per_s": round(n * METRICS_PER_SAMPLE / elapsed),
        "rows_per_s": round(n / elapsed),
        "fsyncs_per_s": round((fsync_calls() - before_fsyncs) / elapsed, 1),
    }


def child_main(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="dehong-bench-") as tmp:
        root = Path(tmp)
        (root / "b").mkdir()
        result = asyncio.run(measure_buffer(root / "b", seconds))
        result["baseline"] = measure_baseline(root, min(seconds, 5.0))
    sys.stdout.write(json.dumps(result) + "\n")


def run_child(shim: Path, delay_ms: int, seconds: float, workdir: Path) -> dict[str, Any]:
    count_file = workdir / f"fsyncs-{delay_ms}.txt"
    env = dict(os.environ)
    env.update(
        LD_PRELOAD=str(shim),
        DEHONG_FSYNC_DELAY_US=str(delay_ms * 1000),
        DEHONG_FSYNC_COUNT_FILE=str(count_file),
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "bench.edge", "buffer", str(seconds)],
        cwd=root, env=env, capture_output=True, text=True, check=False, timeout=seconds * 10 + 120,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"buffer benchmark child failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["fsyncs_whole_child"] = int(count_file.read_text()) if count_file.exists() else None
    return result


# -------------------------------------------------------------- the CPU load


def cpu_load_child(folder: Path) -> None:
    """The coffee inspection on one thread, looping over two simulated trays until
    killed; ``folder/trays`` counts the trays inspected."""
    import cv2

    cv2.setNumThreads(1)
    from edge.vision import coffee
    from edge.vision.config import VisionConfig
    from edge.vision.imagefile import decode, read_file
    from simulators.camera.files import write_coffee

    files = sorted(folder.glob("coffee-*.png")) or write_coffee(folder, [1, 2])
    images = [decode(read_file(f)) for f in files]
    cfg = VisionConfig()
    (folder / "ready").write_text("1")
    n = 0
    while True:
        coffee.inspect(images[n % len(images)], cfg)
        n += 1
        (folder / "trays").write_text(str(n))


async def beside_cpu_load(**load: Any) -> dict[str, Any]:
    """:func:`bench.edge_load.measure` while the coffee inspection loops beside it."""
    from bench.edge_load import ROOT, cpu_seconds, measure, stop_process

    with tempfile.TemporaryDirectory(prefix="dehong-cpuload-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.edge", "cpuload", str(folder), cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            for _ in range(1200):
                if (folder / "ready").exists() or proc.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            if not (folder / "ready").exists():
                raise RuntimeError("the coffee inspection load did not start within 120 s")
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            trays0 = int((folder / "trays").read_text()) if (folder / "trays").exists() else 0
            result = await measure(**load)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            trays1 = int((folder / "trays").read_text())
        finally:
            await stop_process(proc)
    result["cpu_load"] = {
        "what": "coffee inspection (edge/vision) looping over 2 simulated 2000x1500 trays, "
        "1 thread, its own process",
        "cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
        "trays_per_s": round((trays1 - trays0) / (t1 - t0), 2),
    }
    return result


# ------------------------------------------------------------------ parent


def _rss_growth_ok(rss: dict[str, float], marks: tuple[float, float]) -> bool:
    """No upward slope: growth between the marks within the slope goal over the
    window, or within RSS_RESOLUTION_MB (a short window cannot tell an allocator step
    from a trend: 0.2 MB over --short's 40 s reads as 0.3 MB/min)."""
    growth = rss[f"{marks[-1]:.0f}s"] - rss[f"{marks[0]:.0f}s"]
    minutes = (marks[-1] - marks[0]) / 60
    return growth <= max(GOALS["rss_slope_mb_per_min"] * minutes, RSS_RESOLUTION_MB)


def _ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> float | None:
    if not ours.get("dp_per_cpu_s") or not theirs.get("dp_per_cpu_s"):
        return None
    return round(ours["dp_per_cpu_s"] / theirs["dp_per_cpu_s"], 2)


def run(short: bool = False) -> dict[str, Any]:
    from bench import drain as drain_bench
    from bench import tbgateway
    from bench.edge_load import measure

    seconds = 5.0 if short else 20.0
    window = 20.0 if short else 60.0
    with tempfile.TemporaryDirectory(prefix="dehong-shim-") as tmp:
        workdir = Path(tmp)
        shim = build_shim(workdir)
        normal = run_child(shim, 0, seconds, workdir)
        slow = run_child(shim, SD_FSYNC_MS, seconds, workdir)
    drain = asyncio.run(drain_bench.measure(600 if short else 3600))
    # the same Modbus load three times: ours alone, ours beside the camera, ThingsBoard's
    modbus = asyncio.run(measure(warmup_s=8, window_s=window))
    modbus_busy = asyncio.run(beside_cpu_load(warmup_s=8, window_s=window))
    tb = asyncio.run(tbgateway.measure(warmup_s=8, window_s=window))
    thingsboard = tb if tb is not None else tbgateway.recorded(tbgateway.LAST_ERROR[0])
    modbus["x_thingsboard"] = _ratio(modbus, thingsboard)
    modbus_busy["x_thingsboard"] = _ratio(modbus_busy, thingsboard)
    marks = (20.0, 60.0) if short else (60.0, 600.0)
    rss = asyncio.run(
        measure(hosts=2, units=10, registers=50, poll_s=1.0, warmup_s=5,
                window_s=marks[-1] - 5 + 1, rss_marks_s=marks)
    )  # fmt: skip
    goals = {
        "readings_per_s": normal["readings_per_s"] >= GOALS["readings_per_s"],
        "slow_readings_per_s": slow["readings_per_s"] >= GOALS["slow_readings_per_s"],
        "p99_ms": max(normal["p99_ms"] or 1e9, slow["p99_ms"] or 1e9) <= GOALS["p99_ms"],
        "drain_x": drain["x_real_time"] >= GOALS["drain_x"]
        and drain["backlog_samples_in_influxdb"] == drain["backlog_samples"],
        "modbus_x_thingsboard": min(modbus["x_thingsboard"] or 0, modbus_busy["x_thingsboard"] or 0)
        >= GOALS["modbus_x_thingsboard"],
        "modbus_no_poll_lost": modbus["polls_lost"] == 0 and modbus_busy["polls_lost"] == 0,
        "rss_mb": max(rss["rss_mb"].values()) <= GOALS["rss_mb"]
        and _rss_growth_ok(rss["rss_mb"], marks),
    }
    return {
        "bench": "edge",
        "short": short,
        "machine_cores": os.cpu_count(),
        "buffer": normal,
        "buffer_slow_fsync": {"fsync_ms": SD_FSYNC_MS, **slow},
        "drain": drain,
        "modbus_load": modbus,
        "modbus_load_beside_cpu_load": modbus_busy,
        "thingsboard_gateway": thingsboard,
        "rss_1000_readings_per_s": rss,
        "goals": goals,
        "goal_met": all(goals.values()),
    }


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "buffer":
        child_main(float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
    elif len(sys.argv) >= 3 and sys.argv[1] == "cpuload":
        cpu_load_child(Path(sys.argv[2]))
    else:
        sys.stdout.write(json.dumps(run(short="--short" in sys.argv)) + "\n")
