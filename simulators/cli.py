"""``dehong sim ...``: run protocol peers (simulators) from the command line.

``sim`` is a group: each simulator adds its own sub-command here. Nothing heavy
is imported at module level, so ``dehong --help`` works with partial extras.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser("sim", help="run simulators (protocol peers for CI and the demo)")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, metavar="SIMULATOR")

    cold = sim_sub.add_parser(
        "coldstore", help="Modbus TCP cold-store controller (unit 1, 16 registers per room)"
    )
    cold.add_argument("--host", default="127.0.0.1", help="address to listen on")
    cold.add_argument("--port", type=int, default=5020, help="TCP port (0 picks a free one)")
    cold.add_argument("--rooms", type=int, default=4, help="number of cold rooms")
    cold.add_argument("--seed", type=int, default=1, help="random seed (same seed, same run)")
    cold.add_argument("--tick", type=float, default=1.0, help="seconds per simulation tick")
    cold.set_defaults(handler=_run_coldstore)


def _run_coldstore(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    from simulators.coldstore import ColdStoreSimulator, default_rooms

    try:
        rooms = default_rooms(args.rooms)
    except ValueError as exc:
        print(f"dehong sim coldstore: {exc}")
        return 2
    if args.tick <= 0:
        print(f"dehong sim coldstore: --tick must be positive, got {args.tick}")
        return 2
    sim = ColdStoreSimulator(rooms, seed=args.seed, tick_s=args.tick)

    async def run() -> int:
        await sim.start(args.host, args.port)
        print(f"cold-store simulator: {len(rooms)} rooms on {args.host}:{sim.port}, unit id 1")
        for i, room in enumerate(rooms):
            print(f"  {room.name}: {room.commodity}, setpoint {room.setpoint_c} °C, base {i * 16}")
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()
        return 0

    return run()
