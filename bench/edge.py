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
- the gateway under Modbus load and its RSS at 1,000 readings/s (see
  :mod:`bench.edge_load`; needs the shared Mosquitto on 127.0.0.1:1883);
- backlog drain: a 1-hour outage at 1,000 readings/s (``--short``: 10 minutes)
  stored in the buffer, then drained through the session's sending order (live
  first, backlog under the token bucket, ``max_inflight``), every batch
  acknowledged in-process as soon as it is "sent" (no broker: this measures the
  gateway side), while live data keeps arriving at 1,000 readings/s; reported
  as a multiple of real time, with the token bucket's rate and the worst delay
  of a live batch.
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
    # 2x ThingsBoard's ~55k datapoints per CPU-second with block reads, no poll lost
    "modbus_dp_per_cpu_s": 110_000,
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


# ----------------------------------------------------------------- drain


async def measure_drain(outage_s: int, rate: float, live_rps: int = 1000) -> dict[str, Any]:
    """Store ``outage_s`` of ``live_rps`` readings, then drain it with live data going on."""
    from edge.buffer import Buffer
    from edge.config import BufferConfig
    from edge.drivers.base import Sample
    from edge.state import StateStore

    with tempfile.TemporaryDirectory(prefix="dehong-drain-") as tmp:
        path = Path(tmp)
        cfg = BufferConfig(drain_readings_per_s=rate, max_inflight=8)
        buf = Buffer(path / "buffer.db", "bench-gw", StateStore(path), cfg)
        await buf.open()
        per_sample = 10  # 100 devices x 10 metrics = 1,000 readings per second of outage
        devices = live_rps // per_sample
        now_s = int(time.time())
        t0 = (now_s - outage_s - 60) * 1000
        values = {f"m{k}": float(k) for k in range(per_sample)}
        fill_started = time.perf_counter()
        for sec in range(outage_s):
            for d in range(devices):
                buf.put_sample(
                    Sample(device=f"bench-gw.dev-{d}", ts_ms=t0 + sec * 1000, values=values)
                )
            if sec % 60 == 59:
                await buf.flush()
                buf.cut()  # one batch per minute of outage, as the gateway cuts them
        await buf.flush()
        buf.cut()
        await buf.flush()
        fill_s = time.perf_counter() - fill_started
        backlog = buf.pending_readings
        buf.reset_sent()  # "reconnected"

        live_delays: list[float] = []
        live_cut_at: dict[str, float] = {}
        stop = asyncio.Event()

        async def live() -> None:
            t = time.time()
            while not stop.is_set():
                for d in range(devices):
                    buf.put_sample(
                        Sample(device=f"bench-gw.dev-{d}", ts_ms=int(t * 1000), values=values)
                    )
                await buf.flush()
                before = set(buf.ids())
                buf.cut()
                await buf.flush()
                for batch_id in set(buf.ids()) - before:
                    live_cut_at[batch_id] = time.perf_counter()
                t += 1.0
                await asyncio.sleep(max(0.0, t - time.time()))

        live_task = asyncio.create_task(live())
        started = time.perf_counter()
        sent_backlog = 0
        while buf.pending_readings > 0 and sent_backlog < backlog:
            for item in await buf.wait_due():
                if item.id in live_cut_at:
                    live_delays.append(time.perf_counter() - live_cut_at.pop(item.id))
                else:
                    sent_backlog += item.readings
                buf.mark_sent(item)
                buf.ack([item.id])  # the cloud's write-ack, in-process
        drain_s = time.perf_counter() - started
        stop.set()
        await live_task
        await buf.close()
    return {
        "outage_s": outage_s,
        "backlog_readings": backlog,
        "fill_s": round(fill_s, 1),
        "drain_s": round(drain_s, 1),
        "x_real_time": round(outage_s / drain_s, 1),
        "token_bucket_readings_per_s": rate,
        "drain_readings_per_s": round(backlog / drain_s),
        "live_batches_during_drain": len(live_delays),
        "live_max_delay_ms": round(max(live_delays) * 1000, 1) if live_delays else None,
    }


# ------------------------------------------------------------------ parent


def _rss_growth_ok(rss: dict[str, float], marks: tuple[float, float]) -> bool:
    """No upward slope: growth between the marks within the slope goal over the
    window, or within RSS_RESOLUTION_MB (a short window cannot tell an allocator step
    from a trend: 0.2 MB over --short's 40 s reads as 0.3 MB/min)."""
    growth = rss[f"{marks[-1]:.0f}s"] - rss[f"{marks[0]:.0f}s"]
    minutes = (marks[-1] - marks[0]) / 60
    return growth <= max(GOALS["rss_slope_mb_per_min"] * minutes, RSS_RESOLUTION_MB)


def run(short: bool = False) -> dict[str, Any]:
    seconds = 5.0 if short else 20.0
    with tempfile.TemporaryDirectory(prefix="dehong-shim-") as tmp:
        workdir = Path(tmp)
        shim = build_shim(workdir)
        normal = run_child(shim, 0, seconds, workdir)
        slow = run_child(shim, SD_FSYNC_MS, seconds, workdir)
    drain = asyncio.run(measure_drain(600 if short else 3600, rate=25_000.0))
    from bench.edge_load import measure

    modbus = asyncio.run(measure(warmup_s=8, window_s=20 if short else 60))
    marks = (20.0, 60.0) if short else (60.0, 600.0)
    rss = asyncio.run(
        measure(hosts=2, units=10, registers=50, poll_s=1.0, warmup_s=5,
                window_s=marks[-1] - 5 + 1, rss_marks_s=marks)
    )  # fmt: skip
    goals = {
        "readings_per_s": normal["readings_per_s"] >= GOALS["readings_per_s"],
        "slow_readings_per_s": slow["readings_per_s"] >= GOALS["slow_readings_per_s"],
        "p99_ms": max(normal["p99_ms"] or 1e9, slow["p99_ms"] or 1e9) <= GOALS["p99_ms"],
        "drain_x": drain["x_real_time"] >= GOALS["drain_x"],
        "modbus_dp_per_cpu_s": (modbus["dp_per_cpu_s"] or 0) >= GOALS["modbus_dp_per_cpu_s"]
        and modbus["polls_lost"] == 0,
        "rss_mb": max(rss["rss_mb"].values()) <= GOALS["rss_mb"]
        and _rss_growth_ok(rss["rss_mb"], marks),
    }
    return {
        "bench": "edge",
        "short": short,
        "buffer": normal,
        "buffer_slow_fsync": {"fsync_ms": SD_FSYNC_MS, **slow},
        "drain": drain,
        "modbus_load": modbus,
        "rss_1000_readings_per_s": rss,
        "goals": goals,
        "goal_met": all(goals.values()),
    }


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "buffer":
        child_main(float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
    else:
        sys.stdout.write(json.dumps(run(short="--short" in sys.argv)) + "\n")
