"""A truck gateway (a Pi in the truck) publishes positions and reefer probes over the
wire contract to a real Mosquitto; ingest stores them in InfluxDB under the vehicle
owner's county (not the hearing gateway's), and the positions read them back."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import aiomqtt
import orjson
import pytest

from bench.fleet import provision
from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db import Database, utcnow
from cloud.ingest.worker import IngestWorker
from cloud.logistics.positions.read import positions_of
from cloud.timeseries.influx import InfluxStore
from protocol import positions as pos
from protocol.messages import AssetKind, DataBatch, Series
from tests.support.mosquitto import MosquittoBroker

OWNER, HEARD_IN = "533103", "533124"  # a Mangshi carrier's truck, its Pi provisioned in Longchuan
TRUCK = "truck-ms-007"


@pytest.mark.influx
@pytest.mark.mosquitto
@pytest.mark.postgres
async def test_truck_gateway_batch_over_mosquitto_reads_back_as_positions(
    mosquitto_broker: MosquittoBroker, pg_migrated_url: str, influx_store: InfluxStore
) -> None:
    db = Database(pg_migrated_url)
    async with db.transaction() as s:
        org = Organisation(kind="carrier", name="芒市冷链", uscc="Z533103000000001",
                           county=OWNER, created_at=utcnow(), created_by="test")  # fmt: skip
        s.add(org)
        await s.flush()
        s.add(MobileDevice(device_id=TRUCK, kind="vehicle", org_id=org.id, county=OWNER,
                           registered_at=utcnow(), registered_by="test"))  # fmt: skip
    (account,), ingest_url = await provision(db, mosquitto_broker, 1, county=HEARD_IN, prefix="pi")
    assert ingest_url is not None
    worker = IngestWorker(db, influx_store, ingest_url, use_shared=True, client_id="ingest-pos",
                          rollup_interval_s=0)  # fmt: skip
    task = asyncio.create_task(worker.run())
    t0 = (int(time.time()) - 600) * 1000
    n = 30
    series = Series(
        device=TRUCK,
        kind=AssetKind.VEHICLE,
        t0=t0,
        n=n,
        dt=10_000,
        values={
            pos.LAT: [24.4330 + i * 0.0002 for i in range(n)],
            pos.LON: [98.5850 + i * 0.0001 for i in range(n)],
            pos.SPEED_KMH: [42.0] * n,
            pos.COURSE_DEG: [30.0] * n,
            pos.ALT_M: [880.0] * n,
            pos.HDOP: [0.9] * n,
            pos.BATTERY_PCT: [None] * (n - 1) + [91.0],
            pos.CHARGING: [1.0] * n,
            "temp1": [3.5 + (i % 3) / 10 for i in range(n)],
        },
    )
    batch = DataBatch(gw=account.id, seq=1, id=secrets.token_urlsafe(12),
                      sent=int(time.time() * 1000), series=[series])  # fmt: skip
    prefix = f"dh/v1/{HEARD_IN}/{account.id}"
    try:
        await asyncio.wait_for(worker.connected.wait(), 15)
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port,
                                  username=account.id, password=account.password,
                                  identifier=account.id) as client:  # fmt: skip
            await client.subscribe(f"{prefix}/ack", qos=1)
            await client.publish(f"{prefix}/data", batch.model_dump_json().encode(), qos=1)
            async with asyncio.timeout(20):
                async for message in client.messages:
                    ack = orjson.loads(bytes(message.payload))  # type: ignore[arg-type]
                    if any(a.get("id") == batch.id for a in ack["acks"]):
                        break
        fixes = await positions_of(influx_store, TRUCK, t0, t0 + n * 10_000, counties=[OWNER])
        assert len(fixes) == n
        assert [f.ts_ms for f in fixes] == [t0 + i * 10_000 for i in range(n)]
        first, last = fixes[0], fixes[-1]
        assert (first.lat, first.lon, first.speed_kmh, first.course_deg) == (
            24.433,
            98.585,
            42.0,
            30.0,
        )
        assert first.charging is True and first.battery_pct is None and last.battery_pct == 91.0
        assert first.attributes == {"temp1": 3.5}
        # stored under the owner's county: the hearing county reads none of them
        assert (
            await positions_of(influx_store, TRUCK, t0, t0 + n * 10_000, counties=[HEARD_IN]) == []
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.dispose()


async def _publish_truck_batch(
    db: Database,
    broker: MosquittoBroker,
    influx_store: InfluxStore,
    series: list[Series],
    *,
    uscc: str,
) -> dict:
    """Register TRUCK's owner, run an ingest worker with the logistics hook attached
    (as ``dehong cloud ingest`` does), publish one batch from a Pi, return its ack."""
    from cloud.logistics.positions import ingested

    async with db.transaction() as s:
        org = Organisation(kind="carrier", name="芒市冷链", uscc=uscc, county=OWNER,
                           created_at=utcnow(), created_by="test")  # fmt: skip
        s.add(org)
        await s.flush()
        s.add(MobileDevice(device_id=TRUCK, kind="vehicle", org_id=org.id, county=OWNER,
                           registered_at=utcnow(), registered_by="test"))  # fmt: skip
    (account,), ingest_url = await provision(db, broker, 1, county=HEARD_IN, prefix="pi")
    assert ingest_url is not None
    worker = IngestWorker(db, influx_store, ingest_url, use_shared=True,
                          client_id=f"ingest-{secrets.token_hex(3)}", rollup_interval_s=0)  # fmt: skip
    ingested.attach(worker.ingest.hooks, db)
    task = asyncio.create_task(worker.run())
    batch = DataBatch(gw=account.id, seq=1, id=secrets.token_urlsafe(12),
                      sent=int(time.time() * 1000), series=series)  # fmt: skip
    prefix = f"dh/v1/{HEARD_IN}/{account.id}"
    try:
        await asyncio.wait_for(worker.connected.wait(), 15)
        async with aiomqtt.Client(broker.host, broker.port, username=account.id,
                                  password=account.password, identifier=account.id) as client:  # fmt: skip
            await client.subscribe(f"{prefix}/ack", qos=1)
            await client.publish(f"{prefix}/data", batch.model_dump_json().encode(), qos=1)
            async with asyncio.timeout(20):
                async for message in client.messages:
                    ack = orjson.loads(bytes(message.payload))  # type: ignore[arg-type]
                    for a in ack["acks"]:
                        if a.get("id") == batch.id:
                            return a
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    raise AssertionError("no ack")


@pytest.mark.influx
@pytest.mark.mosquitto
@pytest.mark.postgres
async def test_truck_positions_over_mosquitto_mark_their_windows_by_fix_time(
    mosquitto_broker: MosquittoBroker, pg_migrated_url: str, influx_store: InfluxStore
) -> None:
    from cloud.logistics.positions import dirty

    db = Database(pg_migrated_url)
    # two days late, across an hour boundary: both hours are marked, not the arrival's
    hour = dirty.window_of(int(time.time() * 1000) - 2 * 86_400_000)
    t0 = hour + 3_600_000 - 150_000
    n = 30
    series = Series(device=TRUCK, kind=AssetKind.VEHICLE, t0=t0, n=n, dt=10_000,
                    values={pos.LAT: [24.4330 + i * 0.0002 for i in range(n)],
                            pos.LON: [98.5850] * n, "temp1": [3.5] * n})  # fmt: skip
    try:
        ack = await _publish_truck_batch(
            db, mosquitto_broker, influx_store, [series], uscc="Z533103000000011"
        )
        assert ack["status"] == "stored"
        for consumer in ("trips", "tracks"):
            async with db.session() as s:
                windows = await dirty.touched_windows(s, consumer, device=TRUCK)
            assert [(w.start_ms, w.county) for w in windows] == [
                (hour, OWNER),
                (hour + 3_600_000, OWNER),
            ], consumer
    finally:
        await db.dispose()


@pytest.mark.influx
@pytest.mark.mosquitto
@pytest.mark.postgres
async def test_a_latitude_of_95_is_refused_with_its_reason_and_the_rest_stored(
    mosquitto_broker: MosquittoBroker, pg_migrated_url: str, influx_store: InfluxStore
) -> None:
    from sqlalchemy import select

    from cloud.ingest.storage import DeadLetter

    db = Database(pg_migrated_url)
    t0 = (int(time.time()) - 600) * 1000
    n = 5
    series = Series(device=TRUCK, kind=AssetKind.VEHICLE, t0=t0, n=n, dt=10_000,
                    values={pos.LAT: [24.43, 24.44, 95.0, 24.46, 24.47],
                            pos.LON: [98.58] * n, pos.SPEED_KMH: [40.0] * n,
                            "temp1": [3.5, 3.6, 3.7, 3.8, 3.9]})  # fmt: skip
    try:
        ack = await _publish_truck_batch(
            db, mosquitto_broker, influx_store, [series], uscc="Z533103000000012"
        )
        # lat and its lon at that instant refused; everything else stored
        assert (ack["status"], ack["rejected"], ack["stored"]) == ("partial", 2, 4 * n - 2)
        async with db.session() as s:
            letters = list(await s.scalars(select(DeadLetter)))
        assert [(d.code, d.field) for d in letters] == [
            ("position_out_of_range", "series[0].values.lat[2]")
        ]
        assert "lat 95.0 is outside -90..90" in letters[0].reason
        fixes = await positions_of(influx_store, TRUCK, t0, t0 + n * 10_000, counties=[OWNER])
        assert [f.ts_ms - t0 for f in fixes] == [0, 10_000, 30_000, 40_000]
        rows = await influx_store.raw_rows("vehicle", TRUCK, t0, t0 + n * 10_000)
        at_bad = dict(rows)[t0 + 20_000]  # the reefer and the speed beside it: stored
        assert at_bad == {"temp1": 3.7, pos.SPEED_KMH: 40.0}
    finally:
        await db.dispose()
