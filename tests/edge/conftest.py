"""Fixtures of the edge tests: the cold-store simulator, gateway configs, a broker check,
and a tiny "cloud" that receives batches and sends write-acks over the real broker."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.config import GatewayConfig, parse_config
from edge.drivers.base import Sample
from protocol.codec import decode, encode
from protocol.messages import AckEntry, DataBatch, EventMessage, EventType, WriteAck
from protocol.topics import Channel, Topic, subscription
from simulators.coldstore import ColdStoreSimulator, default_rooms
from tests.support.services import missing, port_open

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 1883
COUNTY = "533103"


def room_registers(room: int) -> list[dict[str, Any]]:
    base = room * 16
    return [
        {"metric": "temperature", "address": base, "type": "int16", "scale": 0.1, "decimals": 1},
        {"metric": "humidity", "address": base + 1, "type": "uint16", "scale": 0.1, "decimals": 1},
        {"metric": "setpoint", "address": base + 2, "type": "int16", "scale": 0.1, "decimals": 1},
        {"metric": "counter", "address": base + 3, "type": "uint32"},
        {"metric": "door", "address": base, "function": "coil"},
        {"metric": "compressor", "address": base + 1, "function": "coil"},
    ]


def make_config(
    state_dir: Path,
    modbus_port: int | None,
    *,
    gateway_id: str | None = None,
    rooms: int = 2,
    poll_s: float = 0.2,
    batch_s: float = 0.5,
    ack_timeout_s: float = 5.0,
    mqtt_port: int = BROKER_PORT,
    keepalive_s: int = 5,
) -> GatewayConfig:
    gw = gateway_id or f"test-gw-{secrets.token_hex(4)}"
    data: dict[str, Any] = {
        "gateway": {"id": gw, "county": COUNTY, "site": "test-site", "state_dir": str(state_dir)},
        "mqtt": {
            "url": f"mqtt://{BROKER_HOST}:{mqtt_port}",
            "keepalive_s": keepalive_s,
            "timeout_s": 3,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1.0,
        },
        "batch": {"interval_s": batch_s, "ack_timeout_s": ack_timeout_s},
    }
    if modbus_port is not None:
        data["modbus"] = {
            "hosts": [
                {
                    "host": "127.0.0.1",
                    "port": modbus_port,
                    "timeout_s": 0.5,
                    "devices": [
                        {
                            "id": f"room-{i}",
                            "poll_interval_s": poll_s,
                            "registers": room_registers(i),
                        }
                        for i in range(rooms)
                    ],
                }
            ]
        }
    return parse_config(data, "test")


@pytest.fixture
async def sim() -> AsyncIterator[ColdStoreSimulator]:
    """A running simulator with 2 rooms that only moves when the test calls step()."""
    simulator = ColdStoreSimulator(default_rooms(2), seed=7)
    await simulator.start("127.0.0.1", 0, autotick=False)
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def ticking_sim() -> AsyncIterator[ColdStoreSimulator]:
    """A running simulator ticking every 0.2 s of wall time."""
    simulator = ColdStoreSimulator(default_rooms(2), seed=7, tick_s=0.2)
    await simulator.start("127.0.0.1", 0)
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
def broker() -> tuple[str, int]:
    if not port_open(BROKER_HOST, BROKER_PORT):
        missing(f"Mosquitto is not reachable on {BROKER_HOST}:{BROKER_PORT}")
    return BROKER_HOST, BROKER_PORT


async def wait_for(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    """Wait until ``predicate()`` holds; checks on each loop wake-up, bounded by time."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.05)


def gw_topic(gw: str, channel: Channel) -> str:
    """A test gateway's topic on the shared broker."""
    return str(Topic.build(COUNTY, gw, channel))


class ListSink:
    """A driver's sink that keeps what it gets."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.events: list[EventMessage] = []

    def put_sample(self, sample: Sample) -> None:
        self.samples.append(sample)

    def put_event(self, event: EventMessage) -> None:
        self.events.append(event)

    def event_types(self) -> list[tuple[EventType, str | None]]:
        return [(e.type, e.device) for e in self.events]


class FakeCloud:
    """Plays the cloud on the real broker: receives DataBatch, publishes WriteAck."""

    def __init__(self, client: Any, gateway_id: str, auto_ack: bool) -> None:
        self.client = client
        self.gateway_id = gateway_id
        self.auto_ack = auto_ack
        self.batches: list[DataBatch] = []
        self.acked: set[str] = set()
        self.changed = asyncio.Event()

    def ids(self) -> list[str]:
        return [b.id for b in self.batches]

    async def ack(self, batch: DataBatch) -> None:
        msg = WriteAck(
            gw=batch.gw,
            ts=int(time.time() * 1000),
            acks=[
                AckEntry(id=batch.id, seq=batch.seq, status="stored", stored=batch.reading_count())
            ],
        )
        await self.client.publish(
            str(Topic.build(COUNTY, batch.gw, Channel.ACK)), encode(msg), qos=1
        )
        self.acked.add(batch.id)

    async def listen(self) -> None:
        async for message in self.client.messages:
            topic = Topic.parse(str(message.topic))
            if topic.gateway != self.gateway_id or topic.channel is not Channel.DATA:
                continue
            batch = decode(DataBatch, bytes(message.payload))
            self.batches.append(batch)
            self.changed.set()
            if self.auto_ack:
                await self.ack(batch)


async def start_cloud(
    gateway_id: str, auto_ack: bool = True
) -> tuple[FakeCloud, Any, asyncio.Task[None]]:
    import aiomqtt

    client = aiomqtt.Client(BROKER_HOST, BROKER_PORT, identifier=f"cloud-{secrets.token_hex(4)}")
    await client.__aenter__()
    await client.subscribe(subscription(Channel.DATA), qos=1)
    cloud = FakeCloud(client, gateway_id, auto_ack)
    task = asyncio.create_task(cloud.listen())
    return cloud, client, task


async def stop_cloud(client: Any, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.__aexit__(None, None, None)


async def clear_retained(gateway_id: str) -> None:
    """Remove the retained birth/death a test gateway left on the shared broker."""
    import aiomqtt

    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
        for channel in (Channel.BIRTH, Channel.DEATH):
            await client.publish(
                str(Topic.build(COUNTY, gateway_id, channel)), b"", qos=1, retain=True
            )
