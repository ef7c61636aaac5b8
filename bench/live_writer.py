"""A live cold room for ``dehong bench api``: ``python -m bench.live_writer DB_URL
(sqlite PATH | influx URL DATABASE) DEVICE COUNTY`` writes one reading a second (at
the current time, temperature and humidity) to the time-series store and marks it as
an ingest worker does (:class:`cloud.timeseries.rollup.Marker`, the workers'
default re-mark interval), and runs the roll-up job every 30 s as a worker does
(settle 60 s), in its own process, until SIGTERM or stdin closes; then prints one
JSON line (points written, minutes and hours rolled up, lateness of its ticks).

So the series API is measured while data arrives: each write bumps the series' write
generation, and the job settles the live minutes, as in production."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import orjson

from cloud.db import Database
from cloud.timeseries import Point, TimeSeriesStore
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.rollup import Marker, RollupJob
from cloud.timeseries.sqlite import SqliteStore

#: The ingest workers' defaults (``cloud.ingest.worker``).
ROLLUP_INTERVAL_S = 30.0
ROLLUP_SETTLE_S = 60.0
REMARK_AFTER_S = min(10.0, ROLLUP_SETTLE_S / 2)


def store_of(args: list[str]) -> tuple[TimeSeriesStore, list[str]]:
    if args[0] == "sqlite":
        return SqliteStore(Path(args[1])), args[2:]
    if args[0] == "influx":
        return InfluxStore(args[1], database=args[2], timeout_s=60), args[3:]
    raise SystemExit(f"store: 'sqlite PATH' or 'influx URL DATABASE', not {args[0]!r}")


async def run(db_url: str, store_args: list[str]) -> dict[str, object]:
    tsdb, (device, county) = store_of(store_args)
    db = Database(db_url)
    await tsdb.open()
    marker = Marker(db, REMARK_AFTER_S)
    job = RollupJob(db, tsdb, settle_s=ROLLUP_SETTLE_S)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    points = 0
    worst_late_ms = 0.0

    async def rollups() -> None:  # as a worker's job: catch up, then wait
        while True:
            await job.run_until_idle()
            await asyncio.sleep(ROLLUP_INTERVAL_S)

    roller = asyncio.create_task(rollups())
    t0 = time.monotonic()
    try:
        while not stop.is_set():
            due = t0 + points  # one a second, on schedule
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
                break
            except TimeoutError:
                pass
            worst_late_ms = max(worst_late_ms, (time.monotonic() - due) * 1000)
            now = int(time.time() * 1000)
            temp = round(4 + (now // 1000 % 600) / 300, 3)
            point = Point(
                "cold_room",
                device,
                county,
                "apibench",
                now,
                {"temperature": temp, "humidity": 82.0},
            )
            await tsdb.write([point])
            await marker.mark([point])  # after the write, as the ingest pipeline does
            points += 1
    finally:
        roller.cancel()
        failed = roller.exception() if roller.done() and not roller.cancelled() else None
        await tsdb.close()
        await db.dispose()
    return {
        "rollup_error": None if failed is None else repr(failed),
        "points": points,
        "seconds": round(time.monotonic() - t0, 1),
        "minutes_rolled_up": job.minutes_done,
        "hours_rolled_up": job.hours_done,
        "worst_tick_late_ms": round(worst_late_ms, 1),
    }


def main() -> None:
    out = asyncio.run(run(sys.argv[1], sys.argv[2:]))
    sys.stdout.buffer.write(orjson.dumps(out) + b"\n")


if __name__ == "__main__":
    main()
