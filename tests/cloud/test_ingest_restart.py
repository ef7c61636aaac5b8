"""A worker restart costs seconds, not the gateways' resend timeout.

Ingest keeps a persistent broker session (MQTT 5, a stable client id, a session
expiry) for its shared subscription, so batches published while the worker is
away are queued by the broker and delivered when it is back. Before, each
connect started a clean session: those batches were dropped and came only with
the gateway's resend (30 s by default). A private Mosquitto on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest

from bench.fleet import wait_all_acked
from cloud.db import Database
from cloud.ingest.worker import RECONNECT_MAX_S, IngestWorker
from cloud.timeseries.sqlite import SqliteStore
from tests.support.fleet import provision, running_fleet
from tests.support.mosquitto import MosquittoBroker
from tests.support.schema import migrate_async

DOWN_S = 1.0  # how long the worker is away (a process restart)


@pytest.mark.mosquitto
async def test_batches_published_during_a_worker_restart_are_delivered_after_it(
    tmp_path: Path, mosquitto_broker: MosquittoBroker
) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    tsdb = SqliteStore(tmp_path / "ts.db")
    await tsdb.open()
    accounts, ingest_url = await provision(db, mosquitto_broker, 2)
    assert ingest_url is not None

    def worker() -> IngestWorker:
        return IngestWorker(
            db, tsdb, ingest_url, use_shared=True, client_id="ingest-a", rollup_interval_s=0
        )

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    first = worker()
    task = asyncio.create_task(first.run())
    try:
        await asyncio.wait_for(first.connected.wait(), 15)
        t0 = int(time.time() * 1000) - 3_600_000
        # a resend would come only after 120 s: an ack within the test is a delivery
        async with running_fleet(accounts, mosquitto_broker, ack_timeout_s=120) as (gws, stats):
            for g in gws:
                await g.publish_batch(t0)
            assert await wait_all_acked(gws, 15)

            await stop(task)  # the worker process ends
            for k in range(1, 4):  # published while no worker is connected
                for g in gws:
                    await g.publish_batch(t0 + k * 60_000)
            await asyncio.sleep(DOWN_S)
            second = worker()
            restarted = time.monotonic()
            task = asyncio.create_task(second.run())
            assert await wait_all_acked(gws, 10), (
                f"{sum(g.unacked for g in gws)} batches published during the restart were "
                "dropped by the broker (they would wait for the gateway's resend)"
            )
            added = time.monotonic() - restarted
            assert stats.resent == 0 and stats.acked == 2 * 4
            print(json.dumps({"worker_restart_added_s": round(added, 3), "down_s": DOWN_S}))
            assert added < 5.0
    finally:
        await stop(task)
        await tsdb.close()
        await db.dispose()


def test_reconnect_delay_is_capped() -> None:
    """A worker that lost the broker retries at least every RECONNECT_MAX_S seconds."""
    from protocol.broker import BrokerUrl

    w = IngestWorker(
        None,  # type: ignore[arg-type]  # neither store is touched
        None,  # type: ignore[arg-type]
        BrokerUrl("127.0.0.1", 1883, None, None),
        rollup_interval_s=0,
    )
    assert RECONNECT_MAX_S <= 2.0
    assert max(w.backoff.next() for _ in range(30)) <= RECONNECT_MAX_S
