"""The cold-store simulator: model behaviour, register map, and the real Modbus server."""

from __future__ import annotations

import pytest

from simulators.coldstore import ColdStoreSimulator, RoomProfile, default_rooms


def decode_room(regs: list[int], coils: list[bool], room: int) -> dict[str, float | int | bool]:
    base = room * 16

    def int16(word: int) -> int:
        return word - 0x10000 if word & 0x8000 else word

    return {
        "temperature": int16(regs[base]) / 10,
        "humidity": regs[base + 1] / 10,
        "setpoint": int16(regs[base + 2]) / 10,
        "counter": (regs[base + 3] << 16) | regs[base + 4],
        "door": coils[base],
        "compressor": coils[base + 1],
    }


def test_registers_decode_to_plausible_room_state() -> None:
    sim = ColdStoreSimulator(default_rooms(4), seed=3)
    sim.step(600)  # ten simulated minutes
    for i, profile in enumerate(sim.rooms):
        state = sim.room_state(i)
        room = decode_room(sim.registers(), sim.coils(), i)
        assert room["temperature"] == state.temperature
        assert room["humidity"] == state.humidity
        assert room["setpoint"] == profile.setpoint_c == state.setpoint
        assert room["door"] == state.door_open
        assert room["compressor"] == state.compressor_on
        # controlled around the setpoint (a door may have been open for a while)
        assert abs(state.temperature - profile.setpoint_c) < 4.0, (profile, state)
        assert 0.0 <= state.humidity <= 100.0
        assert abs(state.humidity - profile.rh_target) < 20.0, (profile, state)


def test_lychee_room_can_go_below_zero_as_int16() -> None:
    sim = ColdStoreSimulator([RoomProfile("r", "lychee", setpoint_c=-1.0, rh_target=90.0)], seed=1)
    sim.step(300)
    regs = sim.registers()
    temp = decode_room(regs, sim.coils(), 0)["temperature"]
    assert temp == sim.room_state(0).temperature
    assert temp < 0 and regs[0] > 0x8000  # two's complement on the wire


def test_counter_counts_ticks_per_room() -> None:
    sim = ColdStoreSimulator(default_rooms(3), seed=1)
    assert sim.room_state(0).counter == 0
    sim.step(5)
    sim.step()
    for i in range(3):
        assert sim.room_state(i).counter == 6
        assert decode_room(sim.registers(), sim.coils(), i)["counter"] == 6


def test_open_door_warms_the_room() -> None:
    quiet = RoomProfile("room-0", "lychee", setpoint_c=1.0, rh_target=92.0, door_rate_per_h=0.0)
    closed = ColdStoreSimulator([quiet], seed=5)
    opened = ColdStoreSimulator([quiet], seed=5)
    opened.open_door(0, 120.0)
    assert opened.room_state(0).door_open and opened.coils()[0]
    opened.step(120)
    closed.step(120)
    warm, cold = opened.room_state(0), closed.room_state(0)
    assert warm.true_temperature > cold.true_temperature + 2.0, (warm, cold)
    assert warm.humidity < cold.humidity  # drier ambient air came in
    opened.step(5)
    assert not opened.room_state(0).door_open


def test_same_seed_same_run_other_seed_other_run() -> None:
    a = ColdStoreSimulator(default_rooms(4), seed=42)
    b = ColdStoreSimulator(default_rooms(4), seed=42)
    c = ColdStoreSimulator(default_rooms(4), seed=43)
    for sim in (a, b, c):
        sim.step(900)
    assert a.registers() == b.registers() and a.coils() == b.coils()
    assert a.registers() != c.registers()


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        default_rooms(0)
    with pytest.raises(ValueError, match="tick_s"):
        ColdStoreSimulator(tick_s=0)


async def test_modbus_server_serves_the_model() -> None:
    from pymodbus.client import AsyncModbusTcpClient

    sim = ColdStoreSimulator(default_rooms(2), seed=9)
    await sim.start("127.0.0.1", 0, autotick=False)
    assert sim.port and sim.port > 0
    client = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=1, retries=0)
    try:
        assert await client.connect()
        sim.step(30)
        regs = (await client.read_holding_registers(0, count=32, device_id=1)).registers
        coils = (await client.read_coils(0, count=32, device_id=1)).bits
        for i in range(2):
            state = sim.room_state(i)
            room = decode_room(regs, coils, i)
            assert room["temperature"] == state.temperature
            assert room["humidity"] == state.humidity
            assert room["counter"] == 30
            assert room["door"] == state.door_open
        # the setpoint is writable, the measurements are not
        assert not (await client.write_register(16 + 2, 105, device_id=1)).isError()
        assert sim.room_state(1).setpoint == 10.5
        assert (await client.write_register(16, 0, device_id=1)).isError()
    finally:
        client.close()
        await sim.stop()


async def test_autotick_advances_with_wall_time() -> None:
    import asyncio

    sim = ColdStoreSimulator(default_rooms(1), seed=1, tick_s=0.05)
    await sim.start("127.0.0.1", 0)
    try:
        await asyncio.sleep(0.5)
        assert sim.room_state(0).counter >= 5
    finally:
        await sim.stop()
    assert not sim.running
