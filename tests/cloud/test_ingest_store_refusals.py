"""Only a refusal of the data is a refusal: InfluxDB answering 401 (a rotated
password), 404 (the database dropped) or 403 (no WRITE privilege) is an outage. Nothing is dead-lettered or
acknowledged (the gateway keeps its batch), the writer retries with backoff, an
alert is raised (log, metric, a row the API lists) and cleared once writes go
through again. A private influxd with ``auth-enabled = true``, never the shared one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.pipeline import Ingest
from cloud.ingest.storage import DeadLetter, IngestAlert
from cloud.timeseries.influx import InfluxStore, is_content_error
from protocol.codec import decode
from protocol.messages import WriteAck
from tests.support.data import batch_bytes
from tests.support.influx import PrivateInflux
from tests.support.schema import migrate_async

GW = "mangshi-coop-01"
TOPIC = f"dh/v1/533103/{GW}/data"


async def _until(what: Callable[[], bool], timeout_s: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not what():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _influxql(url: str, q: str, auth: tuple[str, str] | None) -> None:
    async with httpx.AsyncClient(base_url=url, auth=auth, timeout=10) as c:
        r = await c.post("/query", data={"q": q})
    assert r.status_code == 200 and "error" not in r.text, r.text


async def _letters_and_alerts(db: Database) -> tuple[list[DeadLetter], list[IngestAlert]]:
    async with db.session() as s:
        letters = list((await s.execute(select(DeadLetter))).scalars())
        alerts = list((await s.execute(select(IngestAlert).order_by(IngestAlert.kind))).scalars())
    return letters, alerts


@pytest.mark.influx
async def test_auth_failure_dropped_database_and_no_privilege_are_outages_not_refusals(
    tmp_path: Path,
) -> None:
    influx = PrivateInflux(tmp_path / "influx", auth_enabled=True)
    influx.start()
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        s.add(Gateway(id=GW, county="533103", name=GW, site="coop", mqtt_password_hash="x"))
    await _influxql(
        influx.url, "CREATE USER ingest WITH PASSWORD 'right' WITH ALL PRIVILEGES", None
    )
    store = InfluxStore(influx.url, database="dehong", username="ingest", password="right")
    await store.open()
    acks: list[WriteAck] = []

    async def publish(_topic: str, payload: bytes) -> None:
        acks.append(decode(WriteAck, payload))

    ingest = Ingest(db, store, publish, linger_s=0.01, retry_max_s=0.3, worker="test-worker")
    writer = asyncio.create_task(ingest.run_writer())
    try:
        # 1. the password is rotated under the running worker: every write is a 401
        await _influxql(influx.url, "SET PASSWORD FOR ingest = 'rotated'", ("ingest", "right"))
        assert await ingest.handle(TOPIC, batch_bytes(GW, 1)) is None
        await _until(lambda: ingest.metrics.write_retries >= 3)
        await ingest.alerts.flushed()
        letters, alerts = await _letters_and_alerts(db)
        assert letters == [], [d.reason for d in letters[:3]]  # nothing dead-lettered
        assert acks == []  # nothing acknowledged: the gateway keeps the batch
        assert ingest.metrics.store_alert == "store_auth"
        assert 'dehong_ingest_store_alert{kind="store_auth"} 1' in ingest.metrics.render()
        (alert,) = alerts
        assert alert.kind == "store_auth" and alert.cleared_at is None
        assert "401" in alert.message and "DEHONG_INFLUX_PASSWORD" in alert.message
        assert alert.worker == "test-worker"

        # the operator fixes it: the retried write goes through and the alert clears
        await _influxql(influx.url, "SET PASSWORD FOR ingest = 'right'", ("ingest", "rotated"))
        await asyncio.wait_for(ingest.drained(), 15)
        assert [(e.seq, e.status, e.stored) for a in acks for e in a.acks] == [(1, "stored", 240)]
        assert await store.count("cold_room", f"{GW}.room-1") == 60
        await ingest.alerts.flushed()
        _, (alert,) = await _letters_and_alerts(db)
        assert alert.cleared_at is not None and ingest.metrics.store_alert == ""

        # 2. the database is dropped: every write is a 404
        acks.clear()
        await store.query('DROP DATABASE "dehong"', db=None)
        assert await ingest.handle(TOPIC, batch_bytes(GW, 2, room="room-2")) is None
        await _until(lambda: ingest.metrics.store_alert == "store_not_found")
        await _until(lambda: ingest.metrics.store_alerts["store_not_found"] == 1)
        await asyncio.sleep(0.5)  # several retries
        await ingest.alerts.flushed()
        letters, alerts = await _letters_and_alerts(db)
        assert letters == [] and acks == []
        active = [a for a in alerts if a.cleared_at is None]
        assert [a.kind for a in active] == ["store_not_found"], [a.kind for a in alerts]
        assert "database not found" in active[0].message

        await store.ensure_schema()  # what restarting ingest does
        await asyncio.wait_for(ingest.drained(), 15)
        assert [(e.seq, e.status) for a in acks for e in a.acks] == [(2, "stored")]
        assert await store.count("cold_room", f"{GW}.room-2") == 60
        assert ingest.metrics.rejects["store_refused"] == 0

        # 3. a user without the WRITE privilege: every write is a 403
        admin = ("ingest", "right")
        await _influxql(influx.url, "CREATE USER reader WITH PASSWORD 'r'", admin)
        await _influxql(influx.url, 'GRANT READ ON "dehong" TO reader', admin)
        reader = InfluxStore(influx.url, database="dehong", username="reader", password="r")
        reader._client = httpx.AsyncClient(base_url=reader.url, auth=("reader", "r"), timeout=5)
        acks.clear()
        limited = Ingest(db, reader, publish, linger_s=0.01, retry_max_s=0.3)
        second = asyncio.create_task(limited.run_writer())
        try:
            assert await limited.handle(TOPIC, batch_bytes(GW, 3, room="room-3")) is None
            await _until(lambda: limited.metrics.write_retries >= 2)
            assert limited.metrics.store_alert == "store_auth" and acks == []
            await _influxql(influx.url, 'GRANT WRITE ON "dehong" TO reader', admin)
            await asyncio.wait_for(limited.drained(), 15)
            assert [(e.seq, e.status) for a in acks for e in a.acks] == [(3, "stored")]
            letters, _ = await _letters_and_alerts(db)
            assert letters == []
        finally:
            second.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await second
            await limited.alerts.flushed()
            await reader.close()
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await ingest.alerts.flushed()
        await store.close()
        await db.dispose()
        influx.stop()


@pytest.mark.influx
async def test_a_write_while_the_database_is_recreated_is_acked_only_once_it_is_readable(
    tmp_path: Path, influx_store: InfluxStore
) -> None:
    """Restarting ingest recreates a dropped database in steps: ``CREATE DATABASE``
    (whose default retention policy is InfluxDB's ``autogen``), then the ``raw``
    policy, made the default. A retried write answered 204 in between went to
    ``autogen``: acknowledged, yet invisible to every read (which all read ``raw``).
    Writes name ``raw``, so in between they are refused (500, retried) instead."""
    store = influx_store
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        s.add(Gateway(id=GW, county="533103", name=GW, site="coop", mqtt_password_hash="x"))
    acks: list[WriteAck] = []

    async def publish(_topic: str, payload: bytes) -> None:
        acks.append(decode(WriteAck, payload))

    ingest = Ingest(db, store, publish, linger_s=0.01, retry_max_s=0.3)
    writer = asyncio.create_task(ingest.run_writer())
    try:
        await store.query(f'DROP DATABASE "{store.database}"', db=None)
        assert await ingest.handle(TOPIC, batch_bytes(GW, 1)) is None
        await _until(lambda: ingest.metrics.store_alert == "store_not_found")

        # the first step of ensure_schema only; then at least one whole write attempt
        # (two failures counted, so one was sent after the CREATE) or an ack
        await store.query(f'CREATE DATABASE "{store.database}"', db=None)
        tried = ingest.metrics.write_retries
        await _until(lambda: bool(acks) or ingest.metrics.write_retries >= tried + 2)
        assert acks == []  # nothing acknowledged while the raw policy does not exist
        await ingest.alerts.flushed()
        letters, alerts = await _letters_and_alerts(db)
        active = [a for a in alerts if a.cleared_at is None]
        assert letters == [] and [a.kind for a in active] == ["store_unavailable"]
        assert "retention policy not found" in active[0].message
        assert "restart ingest" in active[0].message

        await store.ensure_schema()  # the rest of it
        await asyncio.wait_for(ingest.drained(), 15)
        assert [(e.seq, e.status, e.stored) for a in acks for e in a.acks] == [(1, "stored", 240)]
        assert await store.count("cold_room", f"{GW}.room-1") == 60
        autogen = await store.query('SELECT count(*) FROM "autogen"."cold_room"')
        assert autogen == [], autogen
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await ingest.alerts.flushed()
        await db.dispose()


@pytest.mark.parametrize(
    ("body", "content"),
    [
        ('partial write: field type conflict: input field "valve" ... dropped=1', True),
        ("unable to parse 'cold_room x=': missing field value", True),
        ("partial write: points beyond retention policy dropped=3", True),
        ("database is required", False),
        ("authorization failed", False),
        ("bad request", False),
    ],
)
def test_only_a_400_about_the_data_is_a_content_error(body: str, content: bool) -> None:
    assert is_content_error(body) is content
