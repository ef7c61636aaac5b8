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
