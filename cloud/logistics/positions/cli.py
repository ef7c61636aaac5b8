"""``dehong logistics ...`` (positions): phone trackers, the OsmAnd server of its own port, the
daily tracks job. Only the standard library at module level (the edge-only install
builds the whole parser)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``tracker add``, ``osmand-serve`` and ``tracks`` under ``dehong logistics``."""

    tr = sub.add_parser("tracker", help="phone trackers (OsmAnd / Traccar Client)")
    trs = tr.add_subparsers(dest="tracker_command", required=True, metavar="COMMAND")
    p = trs.add_parser(
        "add",
        help="create a tracker for a registered vehicle; prints its device id (once) and "
        "its Traccar Client configuration link, and writes the QR code",
    )
    p.add_argument("vehicle", help="the vehicle's mobile device id (kind vehicle)")
    p.add_argument("--label", default="", help="e.g. the driver's phone")
    p.add_argument(
        "--speed-unit",
        choices=("ms", "kn", "kmh", "mph"),
        default="ms",
        help="unit of the query form's speed (OsmAnd app: ms, the default)",
    )
    p.add_argument("--qr", type=Path, help="write the QR code here (.svg or .png)")
    p.set_defaults(handler=_tracker_add)

    p = sub.add_parser(
        "osmand-serve",
        help="serve the OsmAnd protocol on its own port "
        "(DEHONG_POSITIONS_OSMAND_HOST/PORT, 127.0.0.1:5055)",
    )
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(handler=_osmand_serve)

    p = sub.add_parser("tracks", help="recompute the daily simplified tracks of touched days")
    p.set_defaults(handler=_tracks)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


async def _tracker_add(args: argparse.Namespace) -> int:
    import segno

    from cloud.db import Database
    from cloud.logistics.positions import trackers
    from cloud.logistics.positions.config import PositionSettings
    from cloud.settings import get_settings

    settings = get_settings()
    server_url = PositionSettings().public_url
    db = Database(settings.database_url)
    try:
        async with db.transaction() as s:
            reg = await trackers.vehicle_of(s, args.vehicle)
            if reg is None:
                print(
                    f"dehong logistics: vehicle {args.vehicle!r} is not registered as a mobile "
                    "device of kind vehicle (PUT /api/v1/mobile-devices/{id})",
                    file=sys.stderr,
                )
                return 2
            issued = await trackers.create(
                s,
                reg,
                label=args.label,
                speed_unit=args.speed_unit,
                server_url=server_url,
                actor=_actor(),
            )
    finally:
        await db.dispose()
    print(f"tracker {issued.tracker.id} for vehicle {reg.device_id} (county {reg.county})")
    print(f"device id (shown once; keep it secret): {issued.device_id}")
    print(f"server URL: {server_url}")
    print(f"Traccar Client link: {issued.config_uri}")
    if args.qr:
        segno.make(issued.config_uri, error="m").save(str(args.qr), scale=6)
        print(f"QR code: {args.qr}")
    else:
        segno.make(issued.config_uri, error="m").terminal(compact=True)
    return 0


def _osmand_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cloud.logistics.positions.config import PositionSettings
    from cloud.logistics.positions.serve import standalone_app
    from cloud.settings import get_settings
    from cloud.web.serving import SERVER_LOOP

    ps = PositionSettings()
    uvicorn.run(
        standalone_app(get_settings(), ps),
        host=args.host or ps.osmand_host,
        port=args.port if args.port is not None else ps.osmand_port,
        access_log=False,  # a line per fix; refusals and store errors are logged
        loop=SERVER_LOOP,  # every pending phone connection accepted in one turn
    )
    return 0


async def _tracks(_args: argparse.Namespace) -> Any:
    from cloud.db import Database
    from cloud.logistics.positions.config import PositionSettings
    from cloud.logistics.positions.tracks import run_once
    from cloud.settings import get_settings
    from cloud.timeseries import store_for

    settings = get_settings()
    db = Database(settings.database_url)
    store = store_for(settings)
    await store.open()
    try:
        n = await run_once(db, store, tolerance_m=PositionSettings().track_tolerance_m)
    finally:
        await store.close()
        await db.dispose()
    print(f"{n} vehicle-days of tracks written")
    return 0
