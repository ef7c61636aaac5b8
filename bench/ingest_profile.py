"""Where an ingest worker spends its CPU, per point: a repeatable in-process profile.

Feeds the benchmark's own payloads (:func:`bench.fleet.room_batch`: 10 cold rooms x
60 readings x 4 metrics per batch) through :class:`cloud.ingest.pipeline.Ingest`,
as ``dehong cloud ingest`` runs it (one message at a time, ``write_concurrency``
writers coalescing ~5,000-point writes, roll-up marks with the worker's re-mark
interval), without MQTT: the publish callback only counts the acks.

- the relational store is a fresh PostgreSQL database (SQLite when none is
  reachable), migrated, with the gateways registered;
- the time-series store is a fresh database on the real InfluxDB (``--store
  influx``), or ``--store lines``: line protocol built and thrown away, to see the
  Python cost alone.

Prints one JSON line: this process's CPU µs per point over the measured rounds
(best of ``--repeat`` runs, the machine being shared), and where it went: the stack
is sampled every millisecond of process CPU time (SIGPROF) and each sample charged
to a stage (:data:`STAGES`), so the stages add up to the total. ``--cprofile N``
prints cProfile's top N functions by own time instead (slower, call-heavy code
over-weighted)::

    python -m bench.ingest_profile --store influx
    python -m bench.ingest_profile --store lines --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from bench.cli import ingest_profile_arguments
from bench.fleet import room_batch
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.devices.storage import Gateway
from cloud.ingest.pipeline import Ingest
from cloud.timeseries import Point, PointBlock, TimeSeriesStore
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.lineprotocol import block_lines, lines, quote_ident

DAY_MS = 86_400_000
PG_ADMIN = os.environ.get("DEHONG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
INFLUX_URL = os.environ.get("DEHONG_TEST_INFLUX_URL", "http://127.0.0.1:8086")
COUNTY = "533103"

#: Stages by where the code runs: (stage, path part, function name or "" for any).
#: A CPU-time sample goes to the innermost frame on the stack with a specific stage;
#: failing one, to the innermost generic one (GENERIC); C code (orjson, pydantic-core,
#: the socket calls) is charged to the Python frame that called it.
STAGES: list[tuple[str, str, str]] = [
    ("ack", "protocol/codec.py", "encode"),
    ("ack", "cloud/ingest/pipeline.py", "_send_acks"),
    ("decode_validate", "protocol/codec.py", ""),
    ("decode_validate", "protocol/messages.py", "_shape"),
    ("decode_validate", "protocol/messages.py", "_totals"),
    ("decode_validate", "protocol/ids.py", ""),
    ("contract_checks", "protocol/window.py", ""),
    ("contract_checks", "protocol/topics.py", ""),
    ("contract_checks", "cloud/ingest/cardinality.py", ""),
    ("contract_checks", "cloud/ingest/pipeline.py", "_authorize"),
    ("convert", "cloud/ingest/convert.py", ""),
    ("line_protocol", "cloud/timeseries/lineprotocol.py", ""),
    ("http_write", "cloud/timeseries/influx.py", ""),
    ("http_write", "/httpx/", ""),
    ("http_write", "/httpcore/", ""),
    ("http_write", "/h11/", ""),
    ("http_write", "/anyio/", ""),
    ("rollup_marks", "cloud/timeseries/rollup.py", ""),
    ("relational", "/sqlalchemy/", ""),
    ("relational", "/psycopg", ""),
    ("relational", "/aiosqlite/", ""),
    ("relational", "/greenlet/", ""),
    ("relational", "cloud/db/", ""),
    ("relational", "cloud/devices/", ""),
    ("relational", "cloud/ingest/registry.py", ""),
    ("relational", "cloud/ingest/storage.py", ""),
    ("relational", "cloud/ingest/pipeline.py", "_finish"),
    ("dead_letters", "cloud/ingest/deadletter.py", ""),
    ("dead_letters", "cloud/ingest/pipeline.py", "_dead_letter_refused"),
    ("write_retry_bisect", "cloud/ingest/writer.py", ""),
    ("pipeline_other", "cloud/ingest/", ""),
    ("pipeline_other", "cloud/metrics/", ""),
    ("pipeline_other", "protocol/messages.py", ""),
    ("event_loop", "/asyncio/", ""),
    ("harness", "bench/ingest_profile.py", ""),
]
GENERIC = frozenset({"pipeline_other", "event_loop", "harness"})


def classify(frame: FrameType | None) -> str:
    generic = None
    while frame is not None:
        code = frame.f_code
        for label, part, fn in STAGES:
            if part in code.co_filename and (not fn or fn == code.co_name):
                if label not in GENERIC:
                    return label
                generic = generic or label
                break
        frame = frame.f_back
    return generic or "unclassified"


class Sampler:
    """Samples the stack every ``interval_s`` of process CPU time (SIGPROF)."""

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self.samples: Counter[str] = Counter()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.samples[classify(frame)] += 1

    def __enter__(self) -> Sampler:
        self._previous = signal.signal(signal.SIGPROF, self._on_signal)
        signal.setitimer(signal.ITIMER_PROF, self.interval_s, self.interval_s)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous)


class LinesOnly(TimeSeriesStore):
    """Builds each write's line protocol and drops it: the Python side of a write."""

    def __init__(self) -> None:
        self.bytes = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def write(self, points: Sequence[Point]) -> None:
        self.bytes += len(lines(points).encode())

    async def write_blocks(self, blocks: Sequence[PointBlock]) -> None:
        self.bytes += len(block_lines(blocks).encode())

    async def write_rollups(self, resolution: Any, points: Sequence[Point]) -> None:
        return None

    async def latest(self, measurement: str, device: str) -> list[Any]:
        return []

    async def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    async def aggregate_parts(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    async def raw_rows(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    async def count(self, measurement: str, device: str | None = None) -> int:
        return 0


def _fresh_pg() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            name = f"dehong_prof_{secrets.token_hex(4)}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception:  # noqa: BLE001 - no PostgreSQL: SQLite, reported
        return None
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def _drop_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


class Acks:
    """The publish callback: counts acknowledged batches, wakes the feeder."""

    def __init__(self) -> None:
        self.batches = 0
        self.changed = asyncio.Event()

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.batches += len(orjson.loads(payload)["acks"])
        self.changed.set()


def payloads(
    gateways: list[str], rounds: int, devices: int, readings: int, t0: int
) -> list[list[tuple[str, bytes, int]]]:
    """``rounds`` lists of (topic, payload, points), one batch per gateway each."""
    out = []
    for r in range(rounds):
        this = []
        for gw in gateways:
            body, points, _ = room_batch(gw, r, t0 + r * readings * 1000, devices, readings)
            this.append((f"dh/v1/{COUNTY}/{gw}/data", body, points))
        out.append(this)
    return out


async def feed(ingest: Ingest, acks: Acks, rnd: list[tuple[str, bytes, int]], window: int) -> None:
    """Hand over one round as the MQTT loop does, one message after another, yielding
    to the writers between messages; closed loop like the benchmark's gateways: at
    most ``window`` batches unacknowledged."""
    sent = acks.batches
    for topic, body, _ in rnd:
        while sent - acks.batches >= window:
            acks.changed.clear()
            await acks.changed.wait()
        error = await ingest.handle(topic, body)
        if error is not None:
            raise RuntimeError(f"bench payload refused: {error}")
        sent += 1
        await asyncio.sleep(0)
    await ingest.drained()


async def run_once(args: argparse.Namespace, profile: cProfile.Profile | None) -> dict[str, Any]:
    """One fresh setup, warm-up rounds, then the measured rounds (sampled, or under
    ``profile``)."""
    pg = None if args.sqlite else _fresh_pg()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"dehong-prof-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    db_url = pg or f"sqlite:///{tmp / 'rel.db'}"
    await upgrade_async(db_url)
    db = Database(db_url)
    gateways = [f"prof-{i:04d}" for i in range(args.gateways)]
    async with db.transaction() as s:
        for gw in gateways:
            s.add(Gateway(id=gw, county=COUNTY, name=gw, site=f"site-{gw}", mqtt_password_hash="x"))
    store: TimeSeriesStore
    if args.store == "influx":
        store = InfluxStore(INFLUX_URL, database=f"prof_{secrets.token_hex(4)}", timeout_s=60)
    else:
        store = LinesOnly()
    await store.open()
    acks = Acks()
    ingest = Ingest(
        db, store, acks, write_points=args.write_points, remark_after_s=10.0, linger_s=0.05
    )
    t0 = int(time.time() * 1000) - 2 * DAY_MS
    data = payloads(gateways, args.warmup + args.rounds, args.devices, args.readings, t0)
    writers = asyncio.create_task(ingest.run_writer())
    try:
        for rnd in data[: args.warmup]:
            await feed(ingest, acks, rnd, args.window)
        points = sum(p for rnd in data[args.warmup :] for _, _, p in rnd)
        groups_before = ingest.metrics.write_latency.n
        written_before = ingest.metrics.points_written
        sampler = Sampler()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
            for rnd in data[args.warmup :]:
                await feed(ingest, acks, rnd, args.window)
            profile.disable()
        else:
            with sampler:
                for rnd in data[args.warmup :]:
                    await feed(ingest, acks, rnd, args.window)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        written = ingest.metrics.points_written - written_before
        if written != points:
            raise RuntimeError(f"{points} points fed, {written} written")
        writes = ingest.metrics.write_latency.n - groups_before
        if isinstance(store, InfluxStore):  # every acknowledged point is there
            fed = sum(p for rnd in data for _, _, p in rnd)
            stored = await store.count("cold_room")
            if stored != fed or acks.batches != sum(map(len, data)):
                raise RuntimeError(f"{fed} points fed and acknowledged, {stored} in InfluxDB")
        n = sum(sampler.samples.values()) or 1
        return {
            "points": points,
            "cpu_us_per_point": round(cpu / points * 1e6, 2),
            "stages_us_per_point": {
                k: round(cpu * c / n / points * 1e6, 2) for k, c in sampler.samples.most_common()
            },
            "wall_points_per_s": round(points / wall),
            "writes": writes,
            "points_per_write": round(points / max(writes, 1)),
            "payload_bytes_per_point": round(
                sum(len(b) for rnd in data for _, b, _ in rnd)
                / sum(p for rnd in data for _, _, p in rnd),
                1,
            ),
            "relational": "postgresql" if pg else "sqlite",
        }
    finally:
        writers.cancel()
        await asyncio.gather(writers, return_exceptions=True)
        if isinstance(store, InfluxStore):
            await store.query(f"DROP DATABASE {quote_ident(store.database)}", db=None)
        await store.close()
        await db.dispose()
        if pg:
            _drop_pg(pg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_profile", description=__doc__)
    ingest_profile_arguments(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    if args.cprofile:
        prof = cProfile.Profile()
        asyncio.run(run_once(args, prof))
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.cprofile)
        return 0
    runs = [asyncio.run(run_once(args, None)) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["cpu_us_per_point"])
    result = {"bench": "ingest_profile", "store": args.store, **best}
    result["cpu_us_per_point_runs"] = [r["cpu_us_per_point"] for r in runs]
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
