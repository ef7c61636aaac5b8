"""Ingest's post-write hooks (cloud/ingest/hooks.py) feeding the engine: a data batch
and a gateway's ALARM / ALARM_CLEAR events through ``Ingest.handle``; a hook that
raises never fails the write nor its ack."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from cloud.coldchain.clock import ManualClock
from cloud.coldchain.engine import Engine
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.hooks import IngestHooks
from cloud.ingest.pipeline import Ingest
from cloud.timeseries import PointBlock
from cloud.timeseries.sqlite import SqliteStore
from protocol.codec import decode, encode
from protocol.messages import DataBatch, EventMessage, EventType, Series, Severity, WriteAck
from tests.cloud.coldchain.support import make_place
from tests.support.data import now_ms

GW = "ms-cc-01"
DEV = f"{GW}.room-1"


async def test_batches_and_gateway_alarms_reach_the_engine(db: Database, tmp_path: Path) -> None:
    async with db.transaction() as s:
        s.add(Gateway(id=GW, county="533103", name=GW, site="s", mqtt_password_hash="x"))
    await make_place(db, DEV)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    acks: list[WriteAck] = []

    async def publish(_topic: str, payload: bytes) -> None:
        acks.append(decode(WriteAck, payload))

    def broken(_blocks: Sequence[PointBlock]) -> None:
        raise RuntimeError("a hook with a bug")

    engine = Engine(db, ts, clock=ManualClock())
    hooks = IngestHooks(written=[broken, engine.readings_written], events=[engine.event_stored])
    ingest = Ingest(db, ts, publish, linger_s=0.01, hooks=hooks)
    writer = asyncio.create_task(ingest.run_writer())
    try:
        t0 = (now_ms() - 3_600_000) // 60_000 * 60_000
        batch = DataBatch(gw=GW, seq=1, id="batch-0001", sent=now_ms(), series=[
            Series(device=DEV, t0=t0, n=6, dt=60_000,
                   values={"temp_c": [5.0, 9.5, 10.0, 10.5, 10.0, 6.0]})])  # fmt: skip
        assert await ingest.handle(f"dh/v1/533103/{GW}/data", encode(batch)) is None
        await ingest.drained()
        assert acks[-1].acks[0].status == "stored"  # the broken hook did not stop it
        assert hooks.errors == 1
        for i, kind in enumerate((EventType.ALARM, EventType.ALARM, EventType.ALARM_CLEAR)):
            ev = EventMessage(gw=GW, id=f"ev-{i if i != 1 else 0}", ts=t0 + i, type=kind,
                              device=DEV, severity=Severity.CRITICAL,
                              attrs={"rule": "room-high", "metric": "temp_c", "value": 10.5})  # fmt: skip
            assert await ingest.handle(f"dh/v1/533103/{GW}/event", encode(ev)) is None
        await engine.step()
        async with db.session() as s:
            exc = (await s.scalars(select(ColdchainExcursion))).all()
            alarms = (await s.scalars(select(ColdchainAlarm).order_by(ColdchainAlarm.id))).all()
        assert [(e.start_ms, e.end_ms, e.duration_s) for e in exc] == [
            (t0 + 60_000, t0 + 300_000, 240.0)
        ]
        assert sorted((a.rule, a.count, a.active) for a in alarms) == [
            ("gateway:room-high", 1, False),  # ev-0 resent counts once, then cleared
            ("range", 1, False),
        ]
    finally:
        writer.cancel()
        await ts.close()
