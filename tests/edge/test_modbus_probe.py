"""`dehong modbus probe` against the simulator: registers, bits, exceptions, bad arguments."""

from __future__ import annotations

import pytest

from dehong.cli import build_parser
from simulators.coldstore import ColdStoreSimulator


async def probe(*argv: str) -> int:
    args = build_parser().parse_args(["modbus", "probe", *argv])
    result = args.handler(args)
    return result if isinstance(result, int) else await result


async def test_probe_prints_registers_and_bits(
    sim: ColdStoreSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.step(3)
    port = str(sim.port)
    assert await probe("--host", "127.0.0.1", "--port", port, "--address", "3", "--count", "2") == 0
    out = capsys.readouterr().out
    assert "    4      3       3  0x0003" in out  # counter low word after 3 ticks
    temp = round(sim.room_state(0).temperature * 10) & 0xFFFF
    assert await probe("--host", "127.0.0.1", "--port", port, "--address", "0") == 0
    assert f"0x{temp:04X}" in capsys.readouterr().out
    assert await probe("--host", "127.0.0.1", "--port", port, "--address", "1",
                       "--function", "coil") == 0  # fmt: skip
    assert (
        capsys.readouterr().out.splitlines()[-1] == f"    1  {int(sim.room_state(0).compressor_on)}"
    )


async def test_probe_explains_failures(
    sim: ColdStoreSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(sim.port)
    assert await probe("--host", "127.0.0.1", "--port", port, "--address", "4000") == 1
    assert "not in its register map" in capsys.readouterr().err
    assert await probe("--host", "127.0.0.1", "--port", port, "--address", "0",
                       "--count", "200") == 2  # fmt: skip
    assert "--count must be 1-125" in capsys.readouterr().err


def pymodbus_value(words: list[int], kind: str, order: str) -> float:
    """The oracle: pymodbus' own conversion; it knows word order (big/little) only, so the
    byte-swapped orders (BADC, DCBA) swap the bytes of each register first."""
    from pymodbus.client import ModbusTcpClient

    if order in ("BADC", "DCBA"):
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    data_type = getattr(ModbusTcpClient.DATATYPE, kind.upper())
    word_order = "big" if order in ("ABCD", "BADC") else "little"
    return float(ModbusTcpClient.convert_from_registers(words, data_type, word_order=word_order))


async def test_probe_prints_32_bit_values_in_all_four_byte_orders(
    sim: ColdStoreSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.step(3)  # the counter (registers 3-4, uint32 ABCD) is 3
    sim.set_setpoint(0, 1671.2)  # register 2 = 16712 = 0x4148: with 0x0000, float32 12.5
    port = str(sim.port)
    assert await probe("--host", "127.0.0.1", "--port", port, "--address", "2", "--count", "3") == 0
    out = capsys.readouterr().out
    assert "0x4148" in out and "uint32" in out and "float32" in out
    rows = {
        (int(addr), order): (int(u32), int(i32), float(f32))
        for addr, order, u32, i32, f32 in (
            line.split() for line in out.splitlines() if line.split()[1:2] in (["ABCD"], ["CDAB"],
                                                                              ["BADC"], ["DCBA"])
        )
    }  # fmt: skip
    assert set(rows) == {(a, o) for a in (2, 3) for o in ("ABCD", "CDAB", "BADC", "DCBA")}
    assert rows[(2, "ABCD")][2] == 12.5  # a setpoint-sized float, big-endian
    assert rows[(3, "ABCD")][:2] == (3, 3)  # the counter as the simulator documents it
    assert rows[(3, "CDAB")][:2] == (3 << 16, 3 << 16)
    assert rows[(3, "BADC")][:2] == (0x0300, 0x0300)
    assert rows[(3, "DCBA")][:2] == (0x03000000, 0x03000000)
    registers = {2: 0x4148, 3: 0x0000, 4: 0x0003}
    for (addr, order), (u32, i32, f32) in rows.items():
        words = [registers[addr], registers[addr + 1]]
        assert u32 == pymodbus_value(words, "uint32", order)
        assert i32 == pymodbus_value(words, "int32", order)
        assert f32 == pytest.approx(pymodbus_value(words, "float32", order), rel=1e-6)
