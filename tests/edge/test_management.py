"""Remote management over the real broker: commands, health; `dehong edge status` offline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from dehong.cli import build_parser
from edge.gateway import Gateway
from protocol.codec import decode, encode
from protocol.messages import CommandAck, CommandMessage, Health
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


@pytest.fixture
async def gateway(
    broker: tuple[str, int], ticking_sim: ColdStoreSimulator, tmp_path: Path
) -> AsyncIterator[Gateway]:
    config = make_config(tmp_path / "state", ticking_sim.port)
    data = config.model_dump(mode="json", exclude_none=True)
    data["health_interval_s"] = 1
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    from edge.config import load_config

    gw = Gateway(load_config(path), config_path=path)
    # a cloud that acknowledges: the gateway's stop (here and in the tests) does not
    # wait out its shutdown grace for write-acks that would never come
    _cloud, client, listener = await start_cloud(gw.id)
    task = asyncio.create_task(gw.run())
    try:
        await gw.wait_connected(10)
        yield gw
    finally:
        await gw.stop()
        await asyncio.gather(task, return_exceptions=True)
        await stop_cloud(client, listener)
        await clear_retained(gw.id)


async def command(gw: Gateway, name: str, args: dict[str, Any] | None = None) -> CommandAck:
    import aiomqtt

    now = int(time.time() * 1000)
    cmd = CommandMessage(id=f"c-{name}-{now}", name=name, args=args or {}, issued=now,
                         expires=now + 60_000)  # fmt: skip
    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
        await client.subscribe(topic(gw.id, Channel.CMD_ACK), qos=1)
        await client.publish(topic(gw.id, Channel.CMD), encode(cmd), qos=1)
        async with asyncio.timeout(15):
            async for message in client.messages:
                ack = decode(CommandAck, bytes(message.payload))  # type: ignore[arg-type]
                if ack.id == cmd.id:
                    return ack
    raise AssertionError("unreachable")


async def test_get_config_buffer_stats_and_restart_driver(gateway: Gateway) -> None:
    ack = await command(gateway, "get-config")
    assert ack.status == "done" and ack.result is not None
    assert ack.result["hash"] == gateway.config.canonical_hash()
    assert ack.result["config"]["gateway"]["id"] == gateway.id
    await wait_for(lambda: gateway.buffer.counters.taken > 0, 5, "readings taken")
    stats = (await command(gateway, "buffer-stats")).result
    assert stats is not None and stats["taken"] > 0 and "oldest_ms" in stats
    ack = await command(gateway, "restart-driver", {"driver": "modbus"})
    assert ack.status == "done"
    before = gateway.buffer.counters.taken
    await wait_for(lambda: gateway.buffer.counters.taken > before, 5, "polling after the restart")
    bad = await command(gateway, "restart-driver", {"driver": "ble"})
    assert bad.status == "rejected" and "modbus" in (bad.detail or "")


async def test_set_config_validated_applied_atomically_and_rolled_back(
    gateway: Gateway, ticking_sim: ColdStoreSimulator
) -> None:
    old_hash = gateway.config.canonical_hash()
    data = gateway.config.model_dump(mode="json", exclude_none=True)
    # invalid: located errors, nothing changes
    broken = orjson.loads(orjson.dumps(data))
    broken["modbus"]["hosts"][0]["devices"][0]["registers"][0]["type"] = "int64"
    ack = await command(gateway, "set-config", {"config": broken})
    assert ack.status == "rejected"
    assert "modbus.hosts[0].devices[0].registers[0].type" in (ack.detail or "")
    # a section that needs a restart on site
    moved = orjson.loads(orjson.dumps(data))
    moved["mqtt"]["keepalive_s"] = 99
    ack = await command(gateway, "set-config", {"config": moved})
    assert ack.status == "rejected" and "mqtt" in (ack.detail or "")
    # a driver that cannot start: rolled back, the old drivers poll again
    serial = orjson.loads(orjson.dumps(data))
    serial["modbus"]["hosts"].append(
        {"serial": "/dev/ttyDEHONG-missing", "devices": [{"id": "x", "registers": [{"metric": "t", "address": 0}]}]}
    )  # fmt: skip
    ack = await command(gateway, "set-config", {"config": serial})
    assert ack.status == "failed" and "rolled back" in (ack.detail or "")
    assert gateway.config.canonical_hash() == old_hash
    before = gateway.buffer.counters.taken
    await wait_for(lambda: gateway.buffer.counters.taken > before, 5, "polling after the rollback")
    # valid: one room only, applied, and the file replaced
    good = orjson.loads(orjson.dumps(data))
    good["modbus"]["hosts"][0]["devices"] = good["modbus"]["hosts"][0]["devices"][:1]
    good["rules"] = [{"name": "warm", "device": "room-0", "metric": "temperature", "above": 40.0}]
    ack = await command(gateway, "set-config", {"config": good})
    assert ack.status == "done", ack.detail
    assert gateway.config.canonical_hash() == ack.result["hash"] != old_hash  # type: ignore[index]
    assert [i.device for i in gateway.inventory()] == [f"{gateway.id}.room-0"]
    assert gateway.config_path is not None
    on_disk = yaml.safe_load(gateway.config_path.read_text())
    assert (
        len(on_disk["modbus"]["hosts"][0]["devices"]) == 1 and on_disk["rules"][0]["name"] == "warm"
    )


async def test_health_is_published_with_buffer_resources_and_clock(gateway: Gateway) -> None:
    import aiomqtt

    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
        await client.subscribe(topic(gateway.id, Channel.HEALTH), qos=0)
        async with asyncio.timeout(5):
            async for message in client.messages:
                health = decode(Health, bytes(message.payload))  # type: ignore[arg-type]
                break
    assert health.gw == gateway.id and health.clock == "trusted"
    assert health.rss_bytes and health.rss_bytes > 10_000_000
    assert health.disk_free_bytes and health.drivers == {"modbus": "running"}


async def test_edge_status_reads_the_buffer_while_offline(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    await wait_for(lambda: gateway.buffer.counters.taken > 0, 5, "readings taken")
    await gateway.stop()  # offline: no gateway, no broker needed
    assert gateway.config_path is not None
    args = build_parser().parse_args(
        ["edge", "status", "--config", str(gateway.config_path), "--json"]
    )
    assert args.handler(args) == 0
    status = orjson.loads(capsys.readouterr().out)
    assert status["gateway"] == gateway.id and status["connected"] is False
    assert set(status["devices"]) == {f"{gateway.id}.room-0", f"{gateway.id}.room-1"}
    args = build_parser().parse_args(["edge", "status", "--config", str(gateway.config_path)])
    assert args.handler(args) == 0
    assert "last write-ack" in capsys.readouterr().out
