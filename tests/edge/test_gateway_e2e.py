"""The gateway end to end: real simulator -> gateway -> real Mosquitto -> a test "cloud".

The test plays the cloud: it subscribes to ``dh/v1/+/+/data``, decodes the
batches and publishes write-acks. Each test uses its own gateway id and removes
the retained birth/death it leaves behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.gateway import Gateway
from protocol.codec import decode, encode
from protocol.messages import Birth, CommandAck, CommandMessage, Death
from protocol.topics import Channel
from simulators.coldstore import ColdStoreSimulator
from tests.edge.conftest import (
    BROKER_HOST,
    BROKER_PORT,
    clear_retained,
    make_config,
    start_cloud,
    stop_cloud,
    wait_for,
)
from tests.edge.conftest import (
    gw_topic as topic,
)

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


async def retained(gw: str, channel: Channel, within_s: float = 3.0) -> bytes:
    """The retained message on a gateway's topic, read by a fresh subscriber."""
    import aiomqtt

    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
        await client.subscribe(topic(gw, channel), qos=1)
        async with asyncio.timeout(within_s):
            async for message in client.messages:
                return bytes(message.payload)  # type: ignore[arg-type]
    raise AssertionError("unreachable")


@pytest.fixture
async def gateway(
    broker: tuple[str, int],
    ticking_sim: ColdStoreSimulator,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Gateway]:
    """A running gateway on the shared broker. Beside it, unless the test plays the cloud
    itself (``{"acking_cloud": False}``), a cloud that acknowledges its batches: stopping
    the gateway then does not wait out its write-ack grace."""
    options: dict[str, Any] = dict(getattr(request, "param", {}))
    acking_cloud = options.pop("acking_cloud", True)
    config = make_config(tmp_path / "state", ticking_sim.port, **options)
    gw = Gateway(config)
    cloud = await start_cloud(gw.id) if acking_cloud else None
    task = asyncio.create_task(gw.run())
    try:
        await gw.wait_connected(10)
        yield gw
    finally:
        await gw.stop()
        await asyncio.gather(task, return_exceptions=True)
        if cloud is not None:
            await stop_cloud(cloud[1], cloud[2])
        await clear_retained(gw.id)


async def test_readings_arrive_and_acks_empty_the_pending_set(gateway: Gateway) -> None:
    # the fixture's cloud acknowledges; this one watches what arrives
    cloud, client, task = await start_cloud(gateway.id, auto_ack=False)
    try:
        await wait_for(lambda: len(cloud.batches) >= 3, 15, "three batches at the cloud")
        await wait_for(lambda: gateway.pending_count == 0, 5, "the pending set to empty")
    finally:
        await stop_cloud(client, task)
    await wait_for(lambda: gateway.stats.acked >= 3, 5, "the gateway to count the acks")
    first = cloud.batches[0]
    devices = {s.device for b in cloud.batches for s in b.series}
    assert devices <= {f"{gateway.id}.room-0", f"{gateway.id}.room-1"}
    seqs = [b.seq for b in cloud.batches]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    series = first.series[0]
    assert set(series.values) == {
        "temperature",
        "humidity",
        "setpoint",
        "counter",
        "door",
        "compressor",
    }
    assert all(-5 < t < 30 for t in series.values["temperature"] if t is not None)
    assert isinstance(series.dt, int) and series.dt == 200  # aligned 0.2 s poll schedule
    assert abs(series.t0 - time.time() * 1000) < 30_000
    assert sum(b.reading_count() for b in cloud.batches) > 0
    assert gateway.stats.readings > 0 and gateway.stats.resent == 0


@pytest.mark.parametrize("gateway", [{"ack_timeout_s": 1.0, "acking_cloud": False}], indirect=True)
async def test_an_unacknowledged_batch_is_resent_after_the_timeout(gateway: Gateway) -> None:
    cloud, client, task = await start_cloud(gateway.id, auto_ack=False)
    try:
        await wait_for(lambda: len(cloud.batches) >= 1, 10, "a first batch")
        first = cloud.batches[0]
        await wait_for(lambda: cloud.ids().count(first.id) >= 2, 5, "the same batch again")
        assert gateway.stats.resent >= 1
        assert first.id in gateway.pending.ids()
        again = next(b for b in cloud.batches[1:] if b.id == first.id)
        assert again == first  # byte-identical resend: same id, seq and readings
        for batch in {b.id: b for b in cloud.batches}.values():
            await cloud.ack(batch)
        await wait_for(lambda: first.id not in gateway.pending.ids(), 5, "the ack to remove it")
    finally:
        await stop_cloud(client, task)


async def test_retained_birth_and_the_will_on_a_killed_connection(gateway: Gateway) -> None:
    birth = decode(Birth, await retained(gateway.id, Channel.BIRTH))
    assert birth.gw == gateway.id and birth.session == gateway.session.session >= 1
    assert {i.device for i in birth.inventory} == {f"{gateway.id}.room-0", f"{gateway.id}.room-1"}
    assert birth.config_hash == gateway.config.canonical_hash()
    assert birth.versions["protocol"] == "1"
    old = birth.session

    gateway.session.drop_connection()  # no DISCONNECT: the broker publishes the will
    await wait_for(
        lambda: gateway.session.session == old + 1 and gateway.connected, 10, "reconnect"
    )
    death = decode(Death, await retained(gateway.id, Channel.DEATH))
    assert (death.reason, death.session) == ("will", old)
    birth = decode(Birth, await retained(gateway.id, Channel.BIRTH))
    assert birth.session == old + 1 > death.session  # the newer birth wins over the old death

    await gateway.stop()
    death = decode(Death, await retained(gateway.id, Channel.DEATH))
    assert (death.reason, death.session) == ("shutdown", old + 1)


async def test_commands_ping_unknown_expired_and_garbage(gateway: Gateway) -> None:
    import aiomqtt

    now = int(time.time() * 1000)
    commands = [
        CommandMessage(id="c-ping", name="ping", issued=now, expires=now + 60_000),
        CommandMessage(id="c-unknown", name="reboot", issued=now, expires=now + 60_000),
        CommandMessage(id="c-old", name="ping", issued=now - 120_000, expires=now - 60_000),
    ]
    acks: dict[str, CommandAck] = {}
    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
        await client.subscribe(topic(gateway.id, Channel.CMD_ACK), qos=1)
        # garbage on both inbound topics first: logged and counted, never fatal
        await client.publish(topic(gateway.id, Channel.CMD), b"not json", qos=1)
        await client.publish(topic(gateway.id, Channel.ACK), b'{"v": 1, "gw": 7}', qos=1)
        await client.publish(
            topic(gateway.id, Channel.CMD), b'{"v": 1, "id": "c-bad", "name": 5}', qos=1
        )
        for cmd in commands:
            await client.publish(topic(gateway.id, Channel.CMD), encode(cmd), qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                ack = decode(CommandAck, bytes(message.payload))  # type: ignore[arg-type]
                acks[ack.id] = ack
                if len(acks) == 4:
                    break
    assert acks["c-ping"].status == "done" and acks["c-ping"].result is not None
    assert acks["c-unknown"].status == "rejected" and "ping" in (acks["c-unknown"].detail or "")
    assert acks["c-old"].status == "expired"
    assert acks["c-bad"].status == "rejected"
    assert gateway.stats.bad_messages == 3
    assert gateway.connected


async def test_survives_a_broker_restart(tmp_path: Path, ticking_sim: ColdStoreSimulator) -> None:
    """Own Mosquitto on a free port, killed and restarted under the running gateway."""
    import shutil

    from tests.support.services import free_port, missing, port_open

    binary = shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin:/usr/bin:/usr/local/bin")
    if binary is None:
        missing("the mosquitto binary is not installed")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")

    async def start_broker() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(conf),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_for(lambda: port_open("127.0.0.1", port, 0.2), 5, "mosquitto to listen")
        return proc

    proc = await start_broker()
    # nobody acknowledges here: a short ack timeout keeps the stop's write-ack grace short
    config = make_config(
        tmp_path / "state", ticking_sim.port, mqtt_port=port, keepalive_s=2, ack_timeout_s=1.0
    )
    gw = Gateway(config)
    task = asyncio.create_task(gw.run())
    try:
        await gw.wait_connected(10)
        first = gw.session.session
        proc.terminate()
        await proc.wait()
        await wait_for(lambda: not gw.connected, 10, "the gateway to notice")
        await asyncio.sleep(0.5)
        proc = await start_broker()
        await wait_for(lambda: gw.connected and gw.session.session > first, 15, "the reconnect")
        assert gw.stats.connects >= 2
        await wait_for(lambda: gw.stats.resent + gw.stats.sent > 0, 5, "batches sent")
    finally:
        await gw.stop()
        await asyncio.gather(task, return_exceptions=True)
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
