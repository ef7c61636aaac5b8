"""InfluxDB stopped for a while under load: gateways keep their batches, the worker
stops acknowledging and bounds its memory, everything arrives after the restart.

A private influxd (never the shared one on 8086) and a private Mosquitto; the
simulated gateways keep every batch until a write-ack names it, like the edge.
CI runs the short form (an outage of 4 s: the same path, the store refusing
connections while batches arrive and resends come due, the queue filling and
shedding, writes retried); the slow form stops InfluxDB for three minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from cloud.db import Database
from cloud.ingest.worker import IngestWorker
from cloud.timeseries.influx import InfluxStore
from tests.support.fleet import provision, running_fleet
from tests.support.influx import PrivateInflux
from tests.support.mosquitto import MosquittoBroker
from tests.support.schema import migrate_async

GATEWAYS = 5
READINGS = 60  # per batch, one device, 1 Hz


async def _outage(tmp_path: Path, broker: MosquittoBroker, outage_s: float, rounds: int) -> None:
    influx = PrivateInflux(tmp_path / "influx")
    influx.start()
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    tsdb = InfluxStore(influx.url, database="dehong", timeout_s=2)
    await tsdb.open()
    accounts, ingest_url = await provision(db, broker, GATEWAYS)
    cap = 4 * READINGS  # the worker holds at most 4 batches while the store is down
    worker = IngestWorker(
        db, tsdb, ingest_url, use_shared=True, max_queued_points=cap, retry_max_s=0.5
    )
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.connected.wait(), 15)
        t0 = int(time.time() * 1000) - 6 * 3_600_000
        async with running_fleet(accounts, broker, ack_timeout_s=1.0) as (gws, stats):
            k = 0
            # before: a normal round, all acknowledged
            for g in gws:
                await g.publish_batch(t0 + k * 60_000)
            k += 1
            await _all_acked(gws, 30)
            acked_before = stats.acked

            influx.stop()
            outage_end = time.monotonic() + outage_s
            for _ in range(rounds):
                for g in gws:
                    await g.publish_batch(t0 + k * 60_000)
                k += 1
                await asyncio.sleep(outage_s / rounds)
                assert worker.ingest._queued_points <= cap  # memory is bounded
            await asyncio.sleep(max(0.0, outage_end - time.monotonic()))
            assert stats.acked == acked_before, "nothing is acknowledged while InfluxDB is down"
            assert sum(g.unacked for g in gws) == GATEWAYS * rounds  # the gateways keep them
            assert worker.ingest.metrics.shed > 0  # past the bound, batches are not taken
            assert worker.ingest.metrics.write_retries > 0

            influx.start()
            await _all_acked(gws, 90)
            expected = k * READINGS
            for g in gws:
                assert await tsdb.count("cold_room", f"{g.account.id}.room-0") == expected
            assert stats.acked == GATEWAYS * k
            assert worker.ingest.metrics.points_written >= GATEWAYS * k * READINGS
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await tsdb.close()
        await db.dispose()
        influx.stop()


async def _all_acked(gws, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    from bench.fleet import wait_all_acked

    assert await wait_all_acked(gws, timeout_s), [g.unacked for g in gws]


@pytest.mark.influx
@pytest.mark.mosquitto
async def test_influx_outage_short(tmp_path: Path, mosquitto_broker: MosquittoBroker) -> None:
    await _outage(tmp_path, mosquitto_broker, outage_s=4, rounds=4)


@pytest.mark.slow
@pytest.mark.influx
@pytest.mark.mosquitto
@pytest.mark.timeout(600)
async def test_influx_outage_minutes(tmp_path: Path, mosquitto_broker: MosquittoBroker) -> None:
    await _outage(tmp_path, mosquitto_broker, outage_s=180, rounds=30)
