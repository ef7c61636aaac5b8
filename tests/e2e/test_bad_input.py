"""Bad input published on a data topic of the real Mosquitto, through ingest, into the
real InfluxDB and PostgreSQL: each bad message is dead-lettered with its field and
reason, and the good batch published right after it is stored."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import aiomqtt
import orjson
import pytest
from sqlalchemy import select

from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.storage import DeadLetter
from cloud.ingest.worker import IngestWorker
from protocol.broker import BrokerUrl
from tests.support import influx
from tests.support.data import batch_bytes, now_ms
from tests.support.services import missing, port_open

SHARED_BROKER = ("127.0.0.1", 1883)


@pytest.fixture
def shared_broker() -> BrokerUrl:
    if not port_open(*SHARED_BROKER):
        missing("Mosquitto not reachable on 127.0.0.1:1883; run scripts/services.sh")
    return BrokerUrl(*SHARED_BROKER)


async def test_bad_inputs_are_dead_lettered_and_good_data_beside_them_stored(
    shared_broker: BrokerUrl, pg_migrated_url: str
) -> None:
    gw = f"bad-input-{secrets.token_hex(3)}"
    other = f"other-{secrets.token_hex(3)}"
    ghost = f"ghost-{secrets.token_hex(3)}"
    topic = f"dh/v1/533103/{gw}/data"
    db = Database(pg_migrated_url)
    async with db.transaction() as s:
        s.add(Gateway(id=gw, county="533103", name=gw, site="s1", mqtt_password_hash="x"))
        s.add(Gateway(id=other, county="533103", name=other, site="s2", mqtt_password_hash="x"))
    async with influx.fresh_store() as tsdb:
        worker = IngestWorker(db, tsdb, shared_broker, client_id=f"ingest-{gw}")
        task = asyncio.create_task(worker.run())
        raw = orjson.loads(batch_bytes(gw, 1))
        raw["v"] = 2
        cases: list[tuple[str, str, str, bytes]] = [
            ("not_json", "", topic, b"{{{ not json"),
            ("schema_version", "v", topic, orjson.dumps(raw)),
            ("too_large", "", topic, b"[" + b"1," * 150_000 + b"1]"),
            (
                "timestamp_future",
                "series[0].t0",
                topic,
                batch_bytes(gw, 2, t0=now_ms() + 86_400_000),
            ),
            ("timestamp_old", "series[0].t0", topic, batch_bytes(gw, 3, t0=0)),
            ("gateway_mismatch", "gw", topic, batch_bytes(other, 4)),
            ("unregistered", "gw", f"dh/v1/533103/{ghost}/data", batch_bytes(ghost, 5)),
        ]
        try:
            await asyncio.wait_for(worker.connected.wait(), 10)
            async with aiomqtt.Client(*SHARED_BROKER, identifier=f"pub-{gw}") as pub:
                for i, (_code, _field, t, payload) in enumerate(cases):
                    await pub.publish(t, payload, qos=1)
                    await pub.publish(topic, batch_bytes(gw, 100 + i, room=f"room-{i}"), qos=1)

            async def done() -> bool:
                async with db.session() as s:
                    n = len((await s.execute(select(DeadLetter))).scalars().all())
                written = sum(
                    [await tsdb.count("cold_room", f"{gw}.room-{i}") for i in range(len(cases))]
                )
                return n >= len(cases) and written == 60 * len(cases)

            deadline = time.monotonic() + 20
            while not await done():
                assert time.monotonic() < deadline, "ingest did not finish in 20 s"
                await asyncio.sleep(0.2)
            async with db.session() as s:
                letters = (
                    (await s.execute(select(DeadLetter).order_by(DeadLetter.id))).scalars().all()
                )
            mine = [d for d in letters if gw in d.topic or ghost in d.topic]
            got = {(d.code, d.field) for d in mine}
            assert got == {(c, f) for c, f, _, _ in cases}, [
                (d.code, d.field, d.reason) for d in mine
            ]
            for d in mine:
                assert d.reason, d.code
            for i in range(len(cases)):
                assert await tsdb.count("cold_room", f"{gw}.room-{i}") == 60
            assert task.done() is False  # the worker survived all of it
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await db.dispose()
