"""`dehong sim mcu`: simulated MCU nodes on an RS-485 line (a pty pair) or on UDP."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from simulators.mcu.node import KINDS, SimNode


def add_parser(sim_sub) -> None:
    p = sim_sub.add_parser(
        "mcu",
        help="microcontroller nodes (door contact, current clamp, soil, scale) on RS-485 or UDP",
    )
    p.add_argument(
        "--nodes",
        default="1:door,2:compressor",
        help=f"NODE:KIND,... (kinds: {', '.join(KINDS)})",
    )
    p.add_argument("--udp", metavar="HOST:PORT", help="push signed frames to this gateway port")
    p.add_argument("--tty", help="serve an existing tty (one end of your own pty pair)")
    p.add_argument(
        "--baud",
        type=int,
        default=115_200,
        help="pace the simulated line at this rate (0: no pacing)",
    )
    p.add_argument("--interval-ms", type=int, default=1000, help="reading interval per node")
    p.add_argument(
        "--keys", help="JSON file {node: hex key} the nodes keep their keys in (their flash)"
    )
    p.add_argument(
        "--console", action="store_true", help="open a provisioning console pty per node"
    )
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(handler=run)


def parse_nodes(text: str) -> list[tuple[int, str]]:
    out = []
    for part in text.split(","):
        node, _, kind = part.strip().partition(":")
        if not node.isdigit() or kind not in KINDS:
            raise SystemExit(f"--nodes: {part!r} is not NODE:KIND (kinds: {', '.join(KINDS)})")
        out.append((int(node), kind))
    return out


def run(args: argparse.Namespace):
    return serve(args)


async def serve(args: argparse.Namespace) -> int:
    from simulators.mcu.bus import SerialNodeBus
    from simulators.mcu.console import NodeConsole
    from simulators.mcu.line import PacedLine
    from simulators.mcu.udp import UdpNode
    from simulators.serialpair import SerialPair

    keys_file = Path(args.keys) if args.keys else None
    stored = json.loads(keys_file.read_text()) if keys_file and keys_file.exists() else {}
    nodes = [
        SimNode(n, kind, seed=args.seed, interval_ms=args.interval_ms,
                key=bytes.fromhex(stored[str(n)]) if str(n) in stored else None)
        for n, kind in parse_nodes(args.nodes)
    ]  # fmt: skip

    def remember(node: SimNode) -> None:
        if keys_file is not None and node.key is not None:
            stored[str(node.node_id)] = node.key.hex()
            keys_file.write_text(json.dumps(stored))

    info: dict = {"nodes": {n.node_id: n.kind.name for n in nodes}}
    async with contextlib.AsyncExitStack() as stack:
        if args.console:
            consoles = [await stack.enter_async_context(NodeConsole(n, remember)) for n in nodes]
            info["consoles"] = {c.node.node_id: c.path for c in consoles}
        if args.udp:
            host, _, port = args.udp.rpartition(":")
            tasks = []
            for n in nodes:
                if n.key is None:
                    print(f"node {n.node_id} has no key: provision it (--console) first",
                          file=sys.stderr)  # fmt: skip
                    continue
                u = await stack.enter_async_context(UdpNode(n, (host, int(port)), seed=args.seed))
                tasks.append(asyncio.create_task(u.run(args.interval_ms / 1000)))
            info["udp"] = args.udp
        else:
            if args.tty:
                path = args.tty
            else:
                line = PacedLine(args.baud) if args.baud else SerialPair()
                await stack.enter_async_context(line)
                path, info["gateway_tty"] = line.a, line.b
            await stack.enter_async_context(SerialNodeBus(path, nodes))
        print(json.dumps(info), flush=True)
        await asyncio.Event().wait()
    return 0
