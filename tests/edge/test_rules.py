"""Local rules: min duration, hysteresis, events, and a real coil switched while offline."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from edge.config import parse_config
from edge.drivers.base import Sample
from edge.gateway import Gateway
from edge.rules import RuleEngine
from protocol.messages import EventMessage, EventType
from simulators.coldstore import COIL_ALARM, ColdStoreSimulator
from tests.edge.conftest import make_config, wait_for
from tests.support.services import free_port


def config_with(
    rules: list[dict[str, Any]], tmp_path: Path, modbus_port: int = 5020, **kw: Any
) -> Any:
    base = make_config(tmp_path, modbus_port, rooms=1, **kw).model_dump(mode="json")
    base["rules"] = rules
    return parse_config(base)


def temp(t: float, ts_s: float) -> Sample:
    return Sample(device="", ts_ms=int(1_000_000 + ts_s * 1000), values={"temperature": t})


async def test_min_duration_and_hysteresis(tmp_path: Path) -> None:
    rule = {"name": "too-warm", "device": "room-0", "metric": "temperature",
            "above": 8.0, "clear": 6.0, "min_duration_s": 10, "coil": {"device": "room-0", "address": 15}}  # fmt: skip
    cfg = config_with([rule], tmp_path)
    events: list[EventMessage] = []
    coils: list[tuple[str, int, bool]] = []

    async def set_coil(device: str, address: int, on: bool) -> None:
        coils.append((device, address, on))

    engine = RuleEngine(cfg, events.append, set_coil)
    dev = cfg.device_id("room-0")

    def feed(t: float, at: float) -> None:
        s = temp(t, at)
        engine.observe(Sample(device=dev, ts_ms=s.ts_ms, values=s.values))

    feed(9.0, 0)
    feed(7.0, 5)  # a spike shorter than 10 s: nothing
    feed(9.0, 6)
    feed(9.5, 15)
    assert events == []
    feed(9.5, 16)  # 10 s past 8.0
    assert [e.type for e in events] == [EventType.ALARM]
    feed(7.5, 20)  # below 8 but above the clear level 6: still firing (hysteresis)
    feed(8.5, 21)
    assert len(events) == 1 and engine.active() == ["too-warm"]
    feed(5.9, 30)
    assert [e.type for e in events] == [EventType.ALARM, EventType.ALARM_CLEAR]
    await engine.drain()
    assert coils == [("room-0", 15, True), ("room-0", 15, False)]
    assert events[0].attrs["rule"] == "too-warm" and events[0].device == dev


async def test_a_rule_fires_offline_and_switches_the_relay(tmp_path: Path) -> None:
    sim = ColdStoreSimulator(seed=3, tick_s=0.1)
    await sim.start("127.0.0.1", 0)
    rule = {"name": "any-temp", "device": "room-0", "metric": "temperature",
            "above": -50.0, "min_duration_s": 0.3, "coil": {"device": "room-0", "address": COIL_ALARM}}  # fmt: skip
    # the broker port is closed: the gateway is offline the whole time
    cfg = config_with([rule], tmp_path, sim.port, poll_s=0.1, mqtt_port=free_port())
    gw = Gateway(cfg)
    task = asyncio.create_task(gw.run())
    try:
        await wait_for(lambda: sim.alarm_relay(0), 5, "the alarm relay coil to switch on")
        assert not gw.connected
        assert gw.rules.active() == ["any-temp"]
        await gw.buffer.flush()
        alarms = [e for e in gw.buffer._events.values() if b'"type":"alarm"' in e.payload]
        assert len(alarms) == 1  # kept durably until the cloud acknowledges it
    finally:
        await gw.stop()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
