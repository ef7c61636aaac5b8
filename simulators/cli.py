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

    from simulators.mcu.cli import add_parser as add_mcu

    add_mcu(sim_sub)

    gw = sim_sub.add_parser(
        "gateway",
        help="run a gateway (as dehong edge run) with the simulated BLE air as its radio",
    )
    gw.add_argument("--config", "-c", required=True, help="gateway YAML file")
    gw.set_defaults(handler=_run_gateway)

    cam = sim_sub.add_parser(
        "camera",
        help="render synthetic camera scenes (coffee trays, fruit conveyor runs) with ground truth",
    )
    cam.add_argument("--program", choices=("coffee", "fruit"), default="coffee")
    cam.add_argument("--out", default="var/camera", help="folder to write images and truth to")
    cam.add_argument("--seed", type=int, default=1, help="first seed")
    cam.add_argument("--count", type=int, default=1, help="how many scenes (seeds seed..)")
    cam.add_argument("--harder", action="store_true", help="the harder setting (see README)")
    cam.add_argument("--commodity", default="mango", help="fruit: mango or lemon")
    cam.add_argument(
        "--conditions",
        default="default",
        choices=("default", "field"),
        help="coffee: real-light conditions: default (today's) or field (each condition "
        "drawn at random within its range from the seed); see simulators/camera/README.md",
    )
    cam.add_argument(
        "--limit",
        metavar="CONDITION",
        help="coffee: push one condition to its limit, the others at default (elevation, "
        "diffuse, gradient, white_balance, bean_colour, crease, holes, touching, scale_6, "
        "scale_9, resolution)",
    )
    cam.set_defaults(handler=_run_camera)

    fleet = sim_sub.add_parser(
        "fleet",
        help="refrigerated trucks on Dehong's roads: phones over OsmAnd HTTP, gateways over MQTT",
    )
    fleet.add_argument("--config", "-c", default="simulators/fleet.sample.yaml", help="fleet file")
    fleet.add_argument(
        "--osmand-url", help="where phones send single fixes, e.g. http://127.0.0.1:5055/"
    )
    fleet.add_argument(
        "--batch-url", help="full URL of offline batches (default: see --batch-path)"
    )
    fleet.add_argument(
        "--batch-path",
        default="/api/v1/logistics/osmand/batch",
        help="path of offline batches on the --osmand-url host",
    )
    fleet.add_argument("--mqtt", help="broker for truck gateways, mqtt://host:1883")
    fleet.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    fleet.add_argument("--realtime", action="store_true", help="speed 1, starting now")
    fleet.add_argument("--seed", type=int, default=1, help="random seed (same seed, same run)")
    fleet.add_argument(
        "--start", help="simulated start, ISO-8601 with zone (default: now minus the run's span)"
    )
    fleet.add_argument(
        "--fail-reefer",
        action="append",
        default=[],
        metavar="VEHICLE@MINUTE",
        help="the vehicle's reefer fails MINUTE simulated minutes after the start (repeatable)",
    )
    fleet.add_argument(
        "--duration", type=float, help="wall seconds to run (default: until every trip is over)"
    )
    fleet.add_argument("--state-dir", default="var/fleet", help="truck gateways' buffers")
    fleet.add_argument(
        "--no-link-gaps", action="store_true", help="truck gateways keep their link in tunnels"
    )
    fleet.set_defaults(handler=_run_fleet)

    com = sim_sub.add_parser(
        "commerce",
        help="a plausible year of e-commerce orders for the four counties (seasonal), "
        "written to the database; --live keeps adding orders",
    )
    com.add_argument("--database-url", help="default: DEHONG_DATABASE_URL or the settings")
    com.add_argument("--months", type=int, default=12, help="months ending this month")
    com.add_argument("--end", help="last month, YYYY-MM (default: this Beijing month)")
    com.add_argument("--per-day", type=float, default=300.0, help="mean orders per day, all shops")
    com.add_argument("--seed", type=int, default=1, help="random seed (same seed, same orders)")
    com.add_argument("--live", action="store_true", help="then add today's orders as they come")
    com.add_argument("--live-interval", type=float, default=10.0, help="seconds between writes")
    com.set_defaults(handler=_run_commerce)


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


def _run_gateway(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    """``dehong edge run`` with ``SimulatedAir.demo()`` injected as the BLE backend:
    edge/ never imports a simulator, the simulator side plugs itself in."""
    from pathlib import Path

    from edge.cli import load_or_report, run_gateway
    from simulators.ble import SimulatedAir

    config = load_or_report(args.config)
    if config is None:
        return 2
    return run_gateway(config, Path(args.config), ble_backend=lambda _config: SimulatedAir.demo())


def _run_camera(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simulators.camera.files import write_coffee, write_fruit

    if args.count < 1:
        print(f"dehong sim camera: --count must be at least 1, got {args.count}")
        return 2
    seeds = list(range(args.seed, args.seed + args.count))
    out = Path(args.out)
    try:
        if args.program == "coffee":
            conditions = f"limit:{args.limit}" if args.limit else args.conditions
            if args.limit and args.conditions != "default":
                raise ValueError("--limit and --conditions field: choose one")
            paths = write_coffee(out, seeds, harder=args.harder, conditions=conditions)
        else:
            paths = write_fruit(out, seeds, commodity=args.commodity, harder=args.harder)
    except ValueError as exc:
        print(f"dehong sim camera: {exc}")
        return 2
    for p in paths:
        print(p)
    return 0


def _run_fleet(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    import json
    from datetime import datetime
    from pathlib import Path

    from protocol.broker import BrokerUrl
    from simulators.fleet.config import FleetConfigError, load_fleet, parse_failure
    from simulators.fleet.runner import FleetOptions, run_fleet

    try:
        fleet = load_fleet(args.config)
        failures = dict(parse_failure(spec) for spec in args.fail_reefer)
        for vehicle in failures:
            fleet.vehicle(vehicle)
        mqtt = BrokerUrl.parse(args.mqtt) if args.mqtt else None
        start_ms = None
        if args.start:
            when = datetime.fromisoformat(args.start)
            if when.tzinfo is None:
                raise FleetConfigError(f"--start {args.start!r}: give a zone, e.g. +08:00 or Z")
            start_ms = int(when.timestamp() * 1000)
        if args.speed <= 0:
            raise FleetConfigError(f"--speed must be positive, got {args.speed}")
    except (FleetConfigError, ValueError) as exc:
        print(f"dehong sim fleet: {exc}")
        return 2
    opts = FleetOptions(
        osmand_url=args.osmand_url,
        batch_url=args.batch_url,
        batch_path=args.batch_path,
        mqtt=mqtt,
        speed=args.speed,
        seed=args.seed,
        start_ms=start_ms,
        duration_s=args.duration,
        realtime=args.realtime,
        failures=failures,
        state_dir=Path(args.state_dir),
        link_gaps=not args.no_link_gaps,
    )

    async def run() -> int:
        print(
            f"fleet: {len(fleet.vehicles)} vehicles, speed {1 if args.realtime else args.speed}x, "
            f"seed {args.seed}",
            flush=True,
        )
        try:
            result = await run_fleet(fleet, opts)
        except ValueError as exc:
            print(f"dehong sim fleet: {exc}")
            return 2
        print(json.dumps(result.summary(), ensure_ascii=False))
        return 0

    return run()


def _run_commerce(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    from cloud.commerce.simcli import run

    return run(args)
