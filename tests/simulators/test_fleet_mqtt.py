"""Truck gateways on a private Mosquitto with per-gateway credentials and ACL: the
batches decode with the protocol's codec, and a tiny cloud acknowledges them."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
import pytest

from cloud.provisioning.mosquitto import Account, hash_password, write_files
from protocol.broker import BrokerUrl
from protocol.codec import decode, encode
from protocol.messages import AckEntry, AssetKind, DataBatch, WriteAck
from protocol.topics import Channel, Topic, subscription
from simulators.fleet import metrics
from simulators.fleet.geo import in_yunnan
from simulators.fleet.runner import FleetOptions, run_fleet
from tests.simulators.fleet_support import small_fleet
from tests.support.mosquitto import start_broker

GW_PASSWORD = "test-only-truck-gw-password"
CLOUD_PASSWORD = "test-only-cloud-password"


@pytest.fixture
def broker(tmp_path: Path):
    b = start_broker(tmp_path / "broker")
    write_files(
        b.dir,
        [
            Account("gw-truck-t1", hash_password(GW_PASSWORD), county="533124"),
            Account("cloud-ingest", hash_password(CLOUD_PASSWORD), role="ingest"),
        ],
    )
    b.reload()
    try:
        yield b
    finally:
        b.stop()


async def _cloud(
    host: str, port: int, got: list[tuple[str, DataBatch]], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client(
        host, port, username="cloud-ingest", password=CLOUD_PASSWORD, identifier="cloud-ingest"
    ) as client:
        await client.subscribe(subscription(Channel.DATA), qos=1)
        ready.set()
        async for msg in client.messages:
            topic = Topic.parse(str(msg.topic))
            batch = decode(DataBatch, bytes(msg.payload))
            got.append((str(msg.topic), batch))
            ack = WriteAck(
                gw=batch.gw,
                ts=batch.sent,
                acks=[AckEntry(id=batch.id, seq=batch.seq, status="stored", stored=1)],
            )
            await client.publish(
                str(Topic.build(topic.county, topic.gateway, Channel.ACK)), encode(ack), qos=1
            )


async def test_a_truck_gateway_publishes_its_vehicle_over_the_wire_contract(
    broker, tmp_path: Path
) -> None:
    f = small_fleet(
        [
            {
                "id": "veh-lc-t1",
                "county": "533124",
                "route": ["longchuan", "yingjiang"],
                "reefer": {"low_c": 2, "high_c": 8},
                "gateway": {"id": "gw-truck-t1", "interval_s": 30, "password": GW_PASSWORD},
            }
        ]
    )
    got: list[tuple[str, DataBatch]] = []
    ready = asyncio.Event()
    cloud = asyncio.create_task(_cloud(broker.host, broker.port, got, ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        opts = FleetOptions(
            mqtt=BrokerUrl(broker.host, broker.port),
            speed=3000,
            seed=2,
            state_dir=tmp_path / "fleet",
            gateway_batch_s=0.3,
            failures={"veh-lc-t1": 30},
        )
        result = await run_fleet(f, opts)
    finally:
        cloud.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cloud
    assert result.gateway_pending == {"gw-truck-t1": 0}  # every batch write-acked
    assert got and all(t == "dh/v1/533124/gw-truck-t1/data" for t, _ in got)
    rows: dict[int, dict[str, float | None]] = {}
    for _, batch in got:
        assert batch.gw == "gw-truck-t1"
        for series in batch.series:
            assert series.device == "veh-lc-t1" and series.kind is AssetKind.VEHICLE
            assert set(series.values) <= set(metrics.ALL_METRICS)
            for i, t in enumerate(series.timestamps()):
                rows[t] = {m: col[i] for m, col in series.values.items()}
    assert len(rows) == result.gateway_readings["gw-truck-t1"]  # none lost, none doubled
    assert all(result.start_ms <= t <= result.end_ms for t in rows)
    positioned = [r for r in rows.values() if r.get("lat") is not None]
    assert all(in_yunnan(r["lat"], r["lon"]) for r in positioned)
    assert max(r["speed_kmh"] for r in positioned) > 40
    # the Qingping tunnel: no position, the reefer still reads
    blind = [r for r in rows.values() if r.get("lat") is None]
    assert blind and all(r["temp1"] is not None for r in blind)
    # the reefer failed 30 minutes in: the air climbs well above 8 degC
    assert max(r["temp1"] for r in rows.values()) > 12


async def test_the_broker_refuses_a_truck_gateway_with_a_wrong_password(broker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            broker.host, broker.port, username="gw-truck-t1", password="wrong", identifier="x1"
        ):
            pass
