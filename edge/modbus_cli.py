"""``dehong modbus probe``: a technician reads registers from a device, TCP or RTU.

::

    dehong modbus probe --host 192.168.1.50 --unit 1 --address 0 --count 5
    dehong modbus probe --serial /dev/ttyUSB0 --baudrate 9600 --unit 3 --address 12 \\
        --count 2 --function input

Prints one line per register (address, uint16, int16, hex) or bit; then, for
every pair of adjacent registers, its uint32, int32 and float32 in each of the
four byte orders (ABCD big-endian, CDAB word-swapped, BADC byte-swapped, DCBA
little-endian; as mbpoll and Modbus Poll show them), decoded exactly as the
gateway decodes ``type`` with that ``word_order``. Exit 0 on an answer, 1 when
the device does not answer or answers with an exception, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

FUNCTIONS = ("holding", "input", "coil", "discrete")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    modbus = subparsers.add_parser("modbus", help="Modbus tools for technicians")
    sub = modbus.add_subparsers(dest="modbus_command", required=True, metavar="ACTION")
    probe = sub.add_parser("probe", help="read and print registers of one device")
    link = probe.add_mutually_exclusive_group(required=True)
    link.add_argument("--host", help="Modbus TCP host")
    link.add_argument("--serial", help="serial device for Modbus RTU, e.g. /dev/ttyUSB0")
    probe.add_argument("--port", type=int, default=502, help="TCP port (502)")
    probe.add_argument("--baudrate", type=int, default=9600, help="RTU baud rate (9600)")
    probe.add_argument("--parity", choices=("N", "E", "O"), default="N", help="RTU parity (N)")
    probe.add_argument("--unit", type=int, default=1, help="unit (slave) id, 0-255 (1)")
    probe.add_argument("--address", type=int, required=True, help="first address (0-based)")
    probe.add_argument("--count", type=int, default=1, help="how many registers or bits (1)")
    probe.add_argument("--function", choices=FUNCTIONS, default="holding", help="(holding)")
    probe.add_argument("--timeout", type=float, default=2.0, help="seconds (2)")
    probe.set_defaults(handler=_probe)


def format_registers(address: int, words: list[int]) -> list[str]:
    lines = []
    for k, word in enumerate(words):
        signed = word - 0x10000 if word & 0x8000 else word
        lines.append(f"{address + k:5d}  {word:5d}  {signed:6d}  0x{word:04X}")
    return lines


#: The 32-bit byte orders, the value's bytes A B C D (A most significant) as they arrive.
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
PAIRS_HEADER = (
    "# 32-bit values of the register pair (addr, addr+1), bytes A B C D (A most significant) "
    "arriving as ABCD big-endian, CDAB word-swapped, BADC byte-swapped, DCBA little-endian\n"
    f"{'# addr':6}  {'order':5}  {'uint32':>10}  {'int32':>11}  {'float32':>15}"
)


def format_pairs(address: int, words: list[int]) -> list[str]:
    """uint32, int32 and float32 of each adjacent register pair in the four byte orders,
    decoded by the gateway's own decoder (the config's ``type`` and ``word_order``)."""
    from edge.drivers.modbus import decode_pair

    lines = []
    for k in range(len(words) - 1):
        first, second = words[k], words[k + 1]
        for order in ORDERS:
            u32 = int(decode_pair(first, second, "uint32", order))
            i32 = int(decode_pair(first, second, "int32", order))
            f32 = decode_pair(first, second, "float32", order)
            lines.append(f"{address + k:6d}  {order:5}  {u32:10d}  {i32:11d}  {f32:15.7g}")
    return lines


def _probe(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    limit = 2000 if args.function in ("coil", "discrete") else 125
    if not 0 <= args.unit <= 255:
        print(f"dehong modbus probe: --unit {args.unit} is not 0-255", file=sys.stderr)
        return 2
    if not (1 <= args.count <= limit and 0 <= args.address <= 65535):
        print(
            f"dehong modbus probe: --count must be 1-{limit} and --address 0-65535 "
            f"for {args.function}",
            file=sys.stderr,
        )
        return 2
    return _read(args)


async def _read(args: argparse.Namespace) -> int:
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
    from pymodbus.exceptions import ModbusException

    client: Any
    if args.serial:
        where = f"{args.serial} at {args.baudrate} baud"
        client = AsyncModbusSerialClient(
            args.serial, baudrate=args.baudrate, parity=args.parity, timeout=args.timeout, retries=0
        )
    else:
        where = f"{args.host}:{args.port}"
        client = AsyncModbusTcpClient(args.host, port=args.port, timeout=args.timeout, retries=0)
    try:
        if not await client.connect():
            print(f"cannot open {where}: check the address, cable and power", file=sys.stderr)
            return 1
        call = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[args.function]
        try:
            response = await asyncio.wait_for(
                call(args.address, count=args.count, device_id=args.unit), args.timeout * 2
            )
        except (ModbusException, TimeoutError, OSError) as exc:
            print(
                f"unit {args.unit} on {where} did not answer ({exc or 'timeout'}): check the "
                "unit id, baud rate and parity, and the A/B wiring",
                file=sys.stderr,
            )
            return 1
        if response.isError():
            print(
                f"unit {args.unit} answered with Modbus exception "
                f"{getattr(response, 'exception_code', '?')}: {args.function} "
                f"{args.address}+{args.count} is not in its register map",
                file=sys.stderr,
            )
            return 1
        print(f"# unit {args.unit} on {where}, {args.function} from {args.address}")
        if args.function in ("coil", "discrete"):
            for k, bit in enumerate(response.bits[: args.count]):
                print(f"{args.address + k:5d}  {int(bool(bit))}")
        else:
            words = list(response.registers)[: args.count]
            print("# addr  uint16   int16  hex")
            print("\n".join(format_registers(args.address, words)))
            if len(words) > 1:
                print(PAIRS_HEADER)
                print("\n".join(format_pairs(args.address, words)))
        return 0
    finally:
        client.close()
