"""Modbus RTU over a pty pair against the pymodbus serial server; the dead-slave budget;
coil writes to the alarm relay; jittered backoff."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from edge.config import parse_config
from edge.drivers.modbus import ModbusDriver
from protocol.messages import EventType
from simulators.coldstore import COIL_ALARM, ColdStoreSimulator, default_rooms
from simulators.serialpair import SerialPair
from tests.edge.conftest import ListSink, room_registers, wait_for


def rtu_config(tmp_path: Path, port: str, devices: list[dict[str, Any]], **link: Any) -> Any:
    return parse_config(
        {
            "gateway": {"id": "rtu-gw", "county": "533103", "state_dir": str(tmp_path)},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "modbus": {
                "hosts": [
                    {
                        "serial": port,
                        "baudrate": 115200,
                        "timeout_s": 0.3,
                        **link,
                        "devices": devices,
                    }
                ]
            },
        }
    )


def room(i: int, unit: int = 1, poll_s: float = 0.5) -> dict[str, Any]:
    return {
        "id": f"room-{i}",
        "unit": unit,
        "poll_interval_s": poll_s,
        "registers": room_registers(i),
    }


async def test_rtu_over_a_pty_pair_reads_what_the_simulator_holds(tmp_path: Path) -> None:
    sim = ColdStoreSimulator(default_rooms(2), seed=5)
    async with SerialPair() as line:
        await sim.start_serial(line.a, baudrate=115200, autotick=False)
        driver = ModbusDriver(rtu_config(tmp_path, line.b, [room(0), room(1)]))
        try:
            sim.step(17)
            samples = await driver.poll_once(ListSink())
        finally:
            await driver.stop()
            await sim.stop()
        assert line.bytes_b_to_a > 0 and line.bytes_a_to_b > 0
    assert len(samples) == 2
    for i, sample in enumerate(samples):
        state = sim.room_state(i)
        assert sample.values["temperature"] == state.temperature
        assert sample.values["counter"] == 17.0
        assert sample.values["door"] == float(state.door_open)


async def test_a_dead_slave_costs_its_bus_at_most_its_timeout_per_cycle(tmp_path: Path) -> None:
    """Unit 1 answers, unit 9 is dead. Budget: one timeout_s per cycle at most, and
    nothing at all while it backs off; the live room keeps its 0.5 s schedule."""
    sim = ColdStoreSimulator(default_rooms(1), seed=5, tick_s=0.1)
    async with SerialPair(unplugged={9}) as line:
        await sim.start_serial(line.a, baudrate=115200)
        config = rtu_config(
            tmp_path, line.b, [room(0, poll_s=0.5), room(0, unit=9, poll_s=0.5) | {"id": "dead"}],
            backoff_max_s=2.0,
        )  # fmt: skip
        driver = ModbusDriver(config)
        sink = ListSink()
        await driver.start(sink)
        started = time.monotonic()
        try:
            await wait_for(lambda: len(sink.samples) >= 8, 10, "eight samples of the live room")
        finally:
            await driver.stop()
            await sim.stop()
    elapsed = time.monotonic() - started
    poller = driver.pollers[0]
    # 8 live polls at 0.5 s: about 4 s; the dead unit at most one 0.3 s timeout per try
    assert elapsed < 8 * 0.5 + 1.5, elapsed
    assert 1 <= poller.failures <= 6  # backoff 0.5, 1, 2, 2 s ...: far fewer than 8 tries
    assert poller.skipped >= 2
    down = [e for e in sink.events if e.type is EventType.DEVICE_DOWN]
    assert [e.device for e in down] == ["rtu-gw.dead"]  # reported once, not every cycle
    gaps = [b.ts_ms - a.ts_ms for a, b in zip(sink.samples, sink.samples[1:], strict=False)]
    assert all(g == 500 for g in gaps), gaps  # the live room never missed a tick


async def test_a_dead_tcp_host_costs_another_host_nothing(tmp_path: Path, sim: Any) -> None:
    from tests.support.services import free_port

    dead_port = free_port()  # nothing listens there
    config = parse_config(
        {
            "gateway": {"id": "tcp-gw", "county": "533103", "state_dir": str(tmp_path)},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "modbus": {
                "hosts": [
                    {"host": "127.0.0.1", "port": dead_port, "timeout_s": 1.0,
                     "devices": [room(0, poll_s=0.2) | {"id": "far"}]},
                    {"host": "127.0.0.1", "port": sim.port, "devices": [room(0, poll_s=0.2)]},
                ]
            },
        }
    )  # fmt: skip
    driver = ModbusDriver(config)
    sink = ListSink()
    await driver.start(sink)
    try:
        await wait_for(lambda: len(sink.samples) >= 6, 5, "samples from the live host")
    finally:
        await driver.stop()
    gaps = {b.ts_ms - a.ts_ms for a, b in zip(sink.samples, sink.samples[1:], strict=False)}
    assert gaps == {200}
    assert driver.status()["tcp-gw.far"] == "down"


async def test_coil_write_switches_the_alarm_relay(tmp_path: Path, sim: Any) -> None:
    config = parse_config(
        {
            "gateway": {"id": "tcp-gw", "county": "533103", "state_dir": str(tmp_path)},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "modbus": {"hosts": [{"host": "127.0.0.1", "port": sim.port, "devices": [room(1)]}]},
        }
    )
    driver = ModbusDriver(config)
    try:
        await driver.write_coil("room-1", 16 + COIL_ALARM, True)
        assert sim.alarm_relay(1) and not sim.alarm_relay(0)
        await driver.write_coil("room-1", 16 + COIL_ALARM, False)
        assert not sim.alarm_relay(1)
    finally:
        await driver.stop()


async def test_rtu_serial_sample_config_is_valid(tmp_path: Path) -> None:
    cfg = rtu_config(tmp_path, "/dev/ttyUSB0", [room(0)], parity="E")
    assert cfg.modbus.hosts[0].label == "/dev/ttyUSB0@115200"
    await asyncio.sleep(0)


class SwallowingClient:
    """A client whose request swallows a cancellation, as Python 3.11's asyncio.wait_for
    inside pymodbus does when the answer arrives in the same instant."""

    connected = True

    def __init__(self) -> None:
        self.reads = 0

    async def connect(self) -> bool:
        return True

    def close(self) -> None:
        return None

    async def read_holding_registers(self, address: int, count: int, device_id: int) -> Any:
        self.reads += 1
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            pass  # the bug being played: the cancellation is lost
        return type("R", (), {"isError": lambda self: False, "registers": [0] * count})()


async def test_stop_ends_a_poller_whose_library_swallowed_the_cancel(tmp_path: Path) -> None:
    client = SwallowingClient()
    config = parse_config(
        {
            "gateway": {"id": "tcp-gw", "county": "533103", "state_dir": str(tmp_path)},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "modbus": {"hosts": [{"host": "127.0.0.1", "devices": [
                {"id": f"d{i}", "unit": 1, "poll_interval_s": 0.01,
                 "registers": [{"metric": "t", "address": 0}]} for i in range(5)]}]},
        }
    )  # fmt: skip
    driver = ModbusDriver(config, client_factory=lambda host: client)
    await driver.start(ListSink())
    await wait_for(lambda: client.reads > 20, 5, "polling")
    started = time.monotonic()
    tasks = list(driver._tasks)
    await driver.stop()
    assert time.monotonic() - started < 1.0
    assert all(t.done() for t in tasks)
    reads = client.reads
    await asyncio.sleep(0.1)
    assert client.reads == reads  # nothing polls after stop
