"""The Modbus driver: read planning and decoding, then against the real simulator over TCP."""

from __future__ import annotations

import asyncio
import itertools
import time

from edge.config import RegisterSpec
from edge.drivers.base import Sample
from edge.drivers.modbus import ModbusDriver, decode_block, plan_reads, scale_value
from protocol.messages import EventType
from simulators.coldstore import ColdStoreSimulator
from tests.edge.conftest import ListSink, make_config, wait_for


def reg(metric: str, address: int, **kw: object) -> RegisterSpec:
    return RegisterSpec.model_validate({"metric": metric, "address": address, **kw})


def test_adjacent_registers_merge_into_one_request_per_function() -> None:
    specs = [
        reg("humidity", 1, type="uint16"),
        reg("temperature", 0),
        reg("counter", 3, type="uint32"),
        reg("door", 0, function="coil"),
        reg("compressor", 1, function="coil"),
        reg("far", 40),
    ]
    blocks = plan_reads(specs)
    assert [(b.function, b.address, b.count) for b in blocks] == [
        ("holding", 0, 2),
        ("holding", 3, 2),
        ("holding", 40, 1),
        ("coil", 0, 2),
    ]
    bridged = plan_reads(specs, max_gap=1)
    assert [(b.function, b.address, b.count) for b in bridged][:2] == [
        ("holding", 0, 5),
        ("holding", 40, 1),
    ]


def test_requests_never_exceed_125_registers() -> None:
    specs = [reg(f"m{i}", i) for i in range(300)]
    blocks = plan_reads(specs)
    assert [b.count for b in blocks] == [125, 125, 50]


def test_decoding_types_scale_and_rounding() -> None:
    temperature = reg("t", 0, type="int16", scale=0.1, decimals=1)
    assert scale_value(temperature, 43.0) == 4.3  # not 4.300000000000001
    block = plan_reads(
        [
            temperature,
            reg("rh", 1, type="uint16", scale=0.1, decimals=1),
            reg("big", 2, type="uint32"),
            reg("little", 4, type="int32", word_order="little"),
            reg("f", 6, type="float32"),
            reg("off", 8, type="int16", scale=2.0, offset=-1.5),
        ]
    )[0]
    words = [0xFFF5, 0xFFFF, 0x0001, 0x0002, 0xFFFE, 0xFFFF, 0x4049, 0x0FDB, 10]
    values = decode_block(block, words)
    assert values["t"] == -1.1
    assert values["rh"] == 6553.5
    assert values["big"] == 65538.0
    assert values["little"] == -2.0
    assert abs(values["f"] - 3.14159274) < 1e-6
    assert values["off"] == 18.5
    assert all(isinstance(v, float) for v in values.values())


async def test_values_match_the_simulator_with_merged_requests(
    sim: ColdStoreSimulator, tmp_path
) -> None:
    config = make_config(tmp_path, sim.port)
    driver = ModbusDriver(config)
    sink = ListSink()
    try:
        sim.step(42)
        sim.requests.clear()
        samples = await driver.poll_once(sink)
    finally:
        await driver.stop()
    assert [s.device for s in samples] == [config.device_id("room-0"), config.device_id("room-1")]
    for i, sample in enumerate(samples):
        state = sim.room_state(i)
        assert sample.values == {
            "temperature": state.temperature,
            "humidity": state.humidity,
            "setpoint": state.setpoint,
            "counter": 42.0,
            "door": float(state.door_open),
            "compressor": float(state.compressor_on),
        }
        assert sample.site == "test-site"
    # per device: one holding request (addresses base..base+4) and one coil request
    assert driver.requests == 4
    assert sim.requests == {3: 2, 1: 2}
    assert sink.event_types() == [
        (EventType.DEVICE_UP, config.device_id("room-0")),
        (EventType.DEVICE_UP, config.device_id("room-1")),
    ]


async def test_a_stopped_simulator_is_device_down_then_up(tmp_path) -> None:
    sim = ColdStoreSimulator(seed=1, tick_s=0.1)
    await sim.start("127.0.0.1", 0)
    port = sim.port
    config = make_config(tmp_path, port, rooms=1, poll_s=0.1)
    driver = ModbusDriver(config)
    sink = ListSink()
    device = config.device_id("room-0")
    await driver.start(sink)
    try:
        await wait_for(lambda: len(sink.samples) >= 2, 5, "samples while the simulator runs")
        assert sink.event_types() == [(EventType.DEVICE_UP, device)]
        await sim.stop()
        await wait_for(lambda: len(sink.events) >= 2, 5, "device_down after the simulator stopped")
        assert sink.event_types()[1] == (EventType.DEVICE_DOWN, device)
        assert driver.status() == {device: "down"}
        count = len(sink.samples)
        await asyncio.sleep(0.3)
        assert len(sink.samples) == count  # nothing invented while down
        await sim.start("127.0.0.1", port)
        await wait_for(lambda: len(sink.events) >= 3, 5, "device_up after the simulator restarted")
        assert sink.event_types()[2] == (EventType.DEVICE_UP, device)
        await wait_for(lambda: len(sink.samples) > count, 5, "samples after the restart")
        assert driver.status() == {device: "up"}
    finally:
        await driver.stop()
        await sim.stop()


async def test_schedule_gives_aligned_timestamps(ticking_sim: ColdStoreSimulator, tmp_path) -> None:
    config = make_config(tmp_path, ticking_sim.port, rooms=1, poll_s=0.1)
    driver = ModbusDriver(config)
    sink = ListSink()
    await driver.start(sink)
    try:
        await wait_for(lambda: len(sink.samples) >= 5, 5, "five samples")
    finally:
        await driver.stop()
    stamps = [s.ts_ms for s in sink.samples]
    assert all(t % 100 == 0 for t in stamps), stamps
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_inventory_lists_devices_and_metrics(tmp_path) -> None:
    config = make_config(tmp_path, 5020)
    items = ModbusDriver(config).inventory()
    assert [i.device for i in items] == [config.device_id("room-0"), config.device_id("room-1")]
    assert items[0].metrics == [
        "temperature",
        "humidity",
        "setpoint",
        "counter",
        "door",
        "compressor",
    ]
    assert items[0].driver == "modbus"


async def test_a_late_poll_is_stamped_with_its_real_time(
    ticking_sim: ColdStoreSimulator, tmp_path
) -> None:
    """As edge/drivers/README.md says: on time (less than half an interval after its
    tick) a poll gets the tick's time; later, the real time at which it started."""
    import time

    config = make_config(tmp_path, ticking_sim.port, rooms=2, poll_s=0.2)
    room1 = config.device_id("room-1")
    blocked_until: list[int] = []

    class SlowSink(ListSink):
        def put_sample(self, sample) -> None:  # type: ignore[no-untyped-def]
            super().put_sample(sample)
            if not blocked_until and sample.device == config.device_id("room-0"):
                time.sleep(0.25)  # the loop is busy: room-1's poll this cycle starts late
                blocked_until.append(time.time_ns() // 1_000_000)

    driver = ModbusDriver(config)
    sink = SlowSink()
    await driver.start(sink)
    try:
        await wait_for(lambda: sum(s.device == room1 for s in sink.samples) >= 4, 5, "samples")
    finally:
        await driver.stop()
    stamps = [s.ts_ms for s in sink.samples if s.device == room1]
    late, *later = stamps
    assert late >= blocked_until[0], (late, blocked_until)  # its real time, not its tick
    assert any(t % 200 == 0 for t in later), later  # on time again: on the ticks
    assert all(b > a for a, b in itertools.pairwise(stamps))


class StallingSink(ListSink):
    """A sink whose ``stall_at``-th sample blocks the event loop for ``stall_s`` (as a
    writer thread holding the GIL, or a busy core, would)."""

    def __init__(self, stall_at: int, stall_s: float) -> None:
        super().__init__()
        self.stall_at = stall_at
        self.stall_s = stall_s

    def put_sample(self, sample: Sample) -> None:
        super().put_sample(sample)
        if len(self.samples) == self.stall_at:
            time.sleep(self.stall_s)  # the stall is the point


async def test_a_stalled_loop_polls_every_tick_late_none_skipped(
    sim: ColdStoreSimulator, tmp_path
) -> None:
    """A 300 ms stall at a 50 ms poll: the ticks it covered are polled late, stamped
    with their real time, and none is skipped (each sample k after the first belongs
    to tick first + k x 50 ms)."""
    iv = 50
    config = make_config(tmp_path, sim.port, rooms=1, poll_s=iv / 1000)
    driver = ModbusDriver(config)
    sink = StallingSink(stall_at=3, stall_s=0.3)
    await driver.start(sink)
    try:
        await wait_for(lambda: len(sink.samples) >= 25, 10, "25 samples")
    finally:
        await driver.stop()
    stamps = [s.ts_ms for s in sink.samples]
    assert all(b > a for a, b in itertools.pairwise(stamps)), stamps
    first = stamps[0]
    assert first % iv == 0, stamps
    # the ticks the stall covered were taken late, with their real (off-tick) time
    assert any(t % iv for t in stamps[3:8]), stamps
    # every later on-time sample sits on the tick its position says: no tick skipped
    on_time = [(k, t) for k, t in enumerate(stamps) if k >= 8 and t % iv == 0]
    assert on_time, stamps
    for k, t in on_time:
        assert t == first + k * iv, (k, t, stamps)
    assert driver.polls_late >= 1 and driver.ticks_missed == 0
