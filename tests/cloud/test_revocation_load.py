"""Revocation under load (issue 10, item 9): gateways publish while one is revoked
through the API's code path on a broker run the way docker-compose runs it (the
reload agent, no pid file). Within 10 s the gateway is disconnected and cannot come
back, and its later batches are refused; a second gateway revoked in the registry
only (the broker not updated: the 503 case) is refused by ingest within the same
bound. The others go on being acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.fleet import provision, wait_all_acked
from cloud.db import Database
from cloud.ingest.storage import DeadLetter
from cloud.ingest.worker import IngestWorker
from cloud.provisioning import service
from cloud.settings import Settings
from cloud.timeseries.sqlite import SqliteStore
from tests.support.fleet import running_fleet
from tests.support.mosquitto import start_broker
from tests.support.schema import migrate_async

BOUND_S = 10.0


async def _revoked_letters(db: Database, gateway: str) -> int:
    async with db.session() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(DeadLetter)
            .where(DeadLetter.gateway_id == gateway, DeadLetter.code == "revoked")
        )
    return int(n or 0)


@pytest.mark.slow
@pytest.mark.mosquitto
async def test_revoke_during_load(tmp_path: Path) -> None:
    broker = await asyncio.to_thread(start_broker, tmp_path / "broker", agent=True)
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    tsdb = SqliteStore(tmp_path / "ts.db")
    await tsdb.open()
    settings = Settings(demo=True, mosquitto_dir=broker.dir)  # reload: the agent
    stop = asyncio.Event()
    try:
        accounts, ingest_url = await provision(db, broker, 4)
        assert ingest_url is not None
        worker = IngestWorker(db, tsdb, ingest_url, rollup_interval_s=0)
        ingest = asyncio.create_task(worker.run())
        await asyncio.wait_for(worker.connected.wait(), 10)
        async with running_fleet(accounts, broker, ack_timeout_s=2.0) as (gws, _stats):
            t0_ms = int(time.time() * 1000) - 600_000

            async def load() -> None:  # every gateway, a batch every 0.2 s
                k = 0
                while not stop.is_set():
                    for g in gws:
                        await g.publish_batch(t0_ms + k * 1000, readings=10)
                    k += 1
                    await asyncio.sleep(0.2)

            loader = asyncio.create_task(load())
            try:
                assert await wait_all_acked(gws, 15)
                revoked, registry_only, others = gws[0], gws[1], gws[2:]

                # 1. through the API's path: registry, files, broker reload via the agent
                started = time.monotonic()
                await service.revoke_gateway(db, revoked.account.id, settings=settings)
                # 2. in the registry only: the broker still lets this one in
                await service.revoke_gateway(db, registry_only.account.id)

                while revoked.connected.is_set():
                    assert time.monotonic() - started < BOUND_S, "revoked gateway still connected"
                    await asyncio.sleep(0.05)
                while await _revoked_letters(db, registry_only.account.id) == 0:
                    assert time.monotonic() - started < BOUND_S, "ingest still takes its batches"
                    await asyncio.sleep(0.2)
                elapsed = time.monotonic() - started

                # later batches: the first never reconnects, the second is never acknowledged
                later = [await g.publish_batch(t0_ms + 10**7) for g in (revoked, registry_only)]
                await asyncio.sleep(3.0)
                assert not revoked.connected.is_set(), "revoked gateway came back"
                assert registry_only.connected.is_set()  # the broker was not told
                for g, batch in zip((revoked, registry_only), later, strict=True):
                    assert batch not in g.acked_ids, f"{g.account.id}: later batch acknowledged"
                # the others were never disturbed
                assert await wait_all_acked(others, 15)
                print(f"revocation took effect in {elapsed:.2f} s (bound {BOUND_S} s)")
            finally:
                stop.set()
                loader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loader
        ingest.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ingest
    finally:
        await tsdb.close()
        await db.dispose()
        await asyncio.to_thread(broker.stop)
