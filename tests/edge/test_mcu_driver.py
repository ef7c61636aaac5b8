"""The MCU driver (edge/drivers/mcu.py) against simulated nodes on real peers: a pty
pair (RS-485, polled) and UDP sockets on loopback (signed push)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from edge.config import ConfigError, parse_config
from edge.drivers.base import Sample
from edge.drivers.mcu import McuDriver
from firmware_bridge.protocol import decode_frame
from protocol.messages import EventMessage, EventType
from simulators.mcu.bus import SerialNodeBus
from simulators.mcu.line import PacedLine
from simulators.mcu.node import SimNode, metrics_config
from simulators.mcu.udp import UdpNode
from simulators.serialpair import SerialPair

GW = "mangshi-coop-01"


class ListSink:
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.events: list[EventMessage] = []

    def put_sample(self, sample: Sample) -> None:
        self.samples.append(sample)

    def put_event(self, event: EventMessage) -> None:
        self.events.append(event)

    def values(self, metric: str) -> list[float | None]:
        return [s.values[metric] for s in self.samples if metric in s.values]


def config(buses: list[dict[str, Any]], nodes: list[dict[str, Any]], tmp_path=None) -> Any:
    data: dict[str, Any] = {
        "gateway": {"id": GW, "county": "533103", "site": "mangshi-coop-01"},
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "mcu": {"buses": buses, "nodes": nodes},
    }
    if tmp_path is not None:
        data["gateway"]["state_dir"] = str(tmp_path)
    return parse_config(data)


def node_cfg(local: str, node: int, kind: str, bus: str = "rs485", **kw: Any) -> dict[str, Any]:
    return {"id": local, "node": node, "bus": bus, "metrics": metrics_config(kind), **kw}


async def until(cond, limit_s: float = 5.0) -> None:
    end = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_serial_bus_polls_nodes_and_delivers_each_reading_once() -> None:
    async with SerialPair() as pair:
        door = SimNode(17, "door", interval_ms=50)
        clamp = SimNode(18, "compressor", interval_ms=50)
        cfg = config(
            [{"id": "rs485", "serial": pair.b, "timeout_s": 0.2}],
            [
                node_cfg("door-0", 17, "door", poll_interval_s=0.05),
                node_cfg("clamp-0", 18, "compressor", poll_interval_s=0.05),
            ],
        )
        async with SerialNodeBus(pair.a, [door, clamp]):
            driver = McuDriver(cfg)
            sink = ListSink()
            await driver.start(sink)
            try:
                await until(lambda: len(sink.values("compressor_current")) >= 10)
            finally:
                await driver.stop()
    assert driver.status() == {f"{GW}.door-0": "up", f"{GW}.clamp-0": "up"}
    currents = [s for s in sink.samples if "compressor_current" in s.values]
    assert all(s.device == f"{GW}.clamp-0" for s in currents)
    stamps = [s.ts_ms for s in currents]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # node-local times become wall times: 50 ms apart, within a second of now
    assert all(40 <= b - a <= 60 for a, b in itertools.pairwise(stamps))
    assert abs(stamps[-1] - time.time() * 1000) < 2000
    assert all(v in (0.0, 1.0) for v in sink.values("door_open"))
    assert any(e.type == EventType.DEVICE_UP for e in sink.events)


async def test_lost_acks_are_retransmitted_and_deduplicated() -> None:
    """A node's answer damaged on the line is re-polled; a poll whose ack never reached
    the node makes it re-send (RETRY, same seq): the gateway delivers each reading once."""
    async with SerialPair() as pair:
        node = SimNode(5, "soil", interval_ms=20)
        cfg = config(
            [{"id": "rs485", "serial": pair.b, "timeout_s": 0.1, "retries": 2}],
            [node_cfg("soil-0", 5, "soil", poll_interval_s=0.02)],
        )
        async with SerialNodeBus(pair.a, [node]) as bus:
            count = {"n": 0}

            def mangle(n: SimNode, wire: bytes) -> bytes:
                count["n"] += 1
                if count["n"] % 5 == 0:  # every 5th answer: noise hits it
                    return wire[:3] + bytes([wire[3] ^ 0x40]) + wire[4:]
                return wire

            bus.mangle = mangle
            # and the gateway's ack of every 7th frame is lost: the node never sees it
            orig = node.on_poll
            polls = {"n": 0}

            def lossy(frame, msg):
                polls["n"] += 1
                if polls["n"] % 7 == 0:
                    msg = type(msg)(msg.want, None)
                return orig(frame, msg)

            node.handlers[0x02] = lossy
            driver = McuDriver(cfg)
            sink = ListSink()
            await driver.start(sink)
            try:
                await until(
                    lambda: node.retransmits >= 3 and driver.stats()["rs485"]["retries"] >= 3
                )
                await until(lambda: len(sink.values("soil_moisture")) >= 60)
            finally:
                await driver.stop()
    stats = driver.stats()["rs485"]
    assert stats["duplicates"] >= 1
    stamps = [s.ts_ms for s in sink.samples]
    assert len(stamps) == len(set(stamps)), "a reading was delivered twice"
    # consecutive readings 20 ms apart (give or take the line's jitter): none lost
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(10 <= g <= 30 for g in gaps), gaps
    assert abs((stamps[-1] - stamps[0]) / 20 - (len(stamps) - 1)) < 2


async def test_dead_node_costs_the_bus_one_timeout_then_backs_off() -> None:
    async with SerialPair() as pair:
        alive = SimNode(1, "scale", interval_ms=100)
        dead = SimNode(2, "door")
        cfg = config(
            [{"id": "rs485", "serial": pair.b, "timeout_s": 0.1, "backoff_max_s": 5}],
            [
                node_cfg("scale-0", 1, "scale", poll_interval_s=0.1),
                node_cfg("door-9", 2, "door", poll_interval_s=0.1),
            ],
        )
        async with SerialNodeBus(pair.a, [alive, dead]) as bus:
            bus.silent.add(2)
            driver = McuDriver(cfg)
            sink = ListSink()
            await driver.start(sink)
            t0 = time.monotonic()
            try:
                await asyncio.sleep(1.5)
            finally:
                await driver.stop()
            elapsed = time.monotonic() - t0
    stats = driver.stats()["rs485"]
    assert driver.status()[f"{GW}.door-9"] == "down"
    assert driver.status()[f"{GW}.scale-0"] == "up"
    # backing off: the dead node was tried a few times, not every 0.1 s
    assert stats["timeouts"] <= 5 and stats["skipped"] >= 5
    assert stats["timeouts"] * 0.1 < elapsed / 3
    # the live node kept its schedule: ~10 readings/s of weight
    assert len(sink.values("weight")) >= 10
    assert [e.device for e in sink.events if e.type == EventType.DEVICE_DOWN] == [f"{GW}.door-9"]


async def test_paced_line_takes_line_time() -> None:
    async with PacedLine(baudrate=115_200, turnaround_s=0.001) as line:
        node = SimNode(3, "compressor", interval_ms=1)
        cfg = config(
            [{"id": "rs485", "serial": line.b, "timeout_s": 0.2}],
            [node_cfg("c", 3, "compressor", poll_interval_s=0.001)],
        )
        async with SerialNodeBus(line.a, [node]):
            driver = McuDriver(cfg)
            sink = ListSink()
            await driver.start(sink)
            await asyncio.sleep(0.5)
            await driver.stop()
    per_s = driver.stats()["rs485"]["readings"] / 0.5
    # 115200 baud carries at most ~11 520 bytes/s: ~8 bytes per reading -> < 1500/s
    assert 300 < per_s < 1500, per_s


async def test_udp_nodes_sign_frames_and_the_gateway_checks_them(tmp_path) -> None:
    key_a, key_b = bytes(range(32)), bytes(range(1, 33))
    cfg = config(
        [{"id": "wifi", "udp_host": "127.0.0.1", "udp_port": 0, "window_s": 30}],
        [node_cfg("soil-1", 21, "soil", bus="wifi"), node_cfg("scale-1", 22, "scale", bus="wifi")],
    )
    driver = McuDriver(cfg, keys={"wifi/21": key_a, "wifi/22": key_b})
    sink = ListSink()
    await driver.start(sink)
    try:
        worker = driver.workers[0]
        addr = worker.address
        good = SimNode(21, "soil", key=key_a, interval_ms=10)
        good.clock_error_s = -3600  # its RTC is an hour behind: the gateway sends the time
        wrong = SimNode(22, "scale", key=bytes(32), interval_ms=10)
        async with UdpNode(good, addr, loss=0.2, seed=3) as a, UdpNode(wrong, addr) as b:
            await asyncio.sleep(0.05)
            for _ in range(6):
                await a.send_one()
                await asyncio.sleep(0.03)  # the node takes new readings meanwhile
            assert a.delivered >= 5 and a.given_up == 0
            assert not await b.send_one()  # never acknowledged: wrong key
            # a replay of a captured, acknowledged frame is refused (and not delivered)
            captured = a.last_wire
            delivered = len(sink.samples)
            a.loss = 0.0
            a.transport.sendto(captured)
            await until(lambda: worker.stats.dropped["replay"] >= 1)
            assert len(sink.samples) == delivered
            raw = decode_frame(captured)
    finally:
        await driver.stop()
    dropped = worker.stats.dropped
    assert dropped["stale"] >= 1 and good.clock_error_s == 0.0
    assert dropped["auth"] >= 1
    assert driver.status()[f"{GW}.scale-1"] == "unknown"
    assert {s.device for s in sink.samples} == {f"{GW}.soil-1"}
    stamps = [s.ts_ms for s in sink.samples]
    assert len(stamps) == len(set(stamps))
    assert raw.auth_time is not None


@pytest.mark.parametrize(
    ("mcu", "where"),
    [
        (
            {"buses": [{"id": "b"}], "nodes": []},
            "mcu.buses[0].serial",
        ),
        (
            {"buses": [{"id": "b", "udp_port": 1}], "nodes": [node_cfg("x", 1, "door", bus="c")]},
            "mcu.nodes[0].bus",
        ),
        (
            {
                "buses": [{"id": "b", "udp_port": 1}],
                "nodes": [node_cfg("x", 1, "door", bus="b"), node_cfg("y", 1, "soil", bus="b")],
            },
            "mcu.nodes[1].node",
        ),
        (
            {
                "buses": [{"id": "b", "udp_port": 1}],
                "nodes": [
                    {
                        "id": "x",
                        "node": 1,
                        "bus": "b",
                        "metrics": [{"channel": 0, "metric": "a"}, {"channel": 0, "metric": "b"}],
                    }
                ],
            },
            "mcu.nodes[0].metrics[1].channel",
        ),
        (
            {
                "buses": [{"id": "b", "udp_port": 1}],
                "nodes": [
                    {
                        "id": "x",
                        "node": 1,
                        "bus": "b",
                        "metrics": [{"channel": 0, "metric": "a", "scale": "big"}],
                    }
                ],
            },
            "mcu.nodes[0].metrics[0].scale",
        ),
    ],
)
def test_config_errors_name_the_node_and_field(mcu: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"gateway": {"id": GW, "county": "533103"}, "mqtt": {"url": "mqtt://h"}, "mcu": mcu}
        )
    assert any(line.startswith(where) for line in err.value.errors), err.value.errors
