"""``dehong edge ...``: run a gateway, check its config.

Nothing heavy at module level: aiomqtt and pymodbus load only when a gateway runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.drivers.ble import BackendFactory

log = logging.getLogger(__name__)

#: sys.setswitchinterval of a running gateway, s (Python's default is 0.005).
GIL_SWITCH_S = 0.001


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edge = subparsers.add_parser("edge", help="the field gateway agent")
    sub = edge.add_subparsers(dest="edge_command", required=True, metavar="ACTION")

    run = sub.add_parser("run", help="run the gateway (Modbus -> batches -> MQTT)")
    run.add_argument("--config", "-c", required=True, help="gateway YAML file")
    run.set_defaults(handler=_run)

    check = sub.add_parser("check-config", help="validate a gateway YAML file")
    check.add_argument("file", help="gateway YAML file")
    check.set_defaults(handler=_check)

    status = sub.add_parser(
        "status", help="what is pending, the oldest reading, the last ack, driver states (offline)"
    )
    status.add_argument("--config", "-c", required=True, help="gateway YAML file")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_status)


def _check(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.errors)} error(s)", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 2
    devices = sum(len(h.devices) for h in config.modbus.hosts)
    ble = ", BLE scanning" if config.ble.enabled else ""
    mcu = (
        f", {len(config.mcu.nodes)} MCU node(s) on {len(config.mcu.buses)} bus(es)"
        if config.mcu.buses
        else ""
    )
    rules = f", {len(config.rules)} rule(s)" if config.rules else ""
    ota = config.mcu.ota
    if ota.cloud_url is not None and ota.keys is not None:
        from firmware_bridge.signing import load_public_keys

        try:
            if not load_public_keys(ota.keys):
                raise ValueError(f"no *.pub key in {ota.keys}")
        except (OSError, ValueError) as exc:
            print(f"{args.file}: 1 error(s)", file=sys.stderr)
            print(f"  mcu.ota.keys: {exc}", file=sys.stderr)
            return 2
        mcu += f", node updates from {ota.cloud_url}"
    print(
        f"OK: gateway {config.gateway.id} (county {config.gateway.county}), "
        f"{devices} device(s){ble}{mcu}{rules}"
    )
    return 0


def load_or_report(path: str) -> GatewayConfig | None:
    """The config at ``path``, or None after printing every error with its location."""
    from edge.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.errors)} error(s)", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    config = load_or_report(args.config)
    if config is None:
        return 2
    return run_gateway(config, Path(args.config))


async def run_gateway(
    config: GatewayConfig, config_path: Path, *, ble_backend: BackendFactory | None = None
) -> int:
    """Run one gateway until SIGINT/SIGTERM. ``ble_backend`` injects the BLE scanner
    backend (``dehong sim gateway`` passes the simulated air); exit 2 on a config
    that cannot run here."""
    from edge.drivers.ble import NoBackend
    from edge.gateway import Gateway

    try:
        gateway = Gateway(config, config_path=config_path, ble_backend=ble_backend)
    except NoBackend as exc:
        print(f"{config_path}: {exc}", file=sys.stderr)
        return 2
    # The buffer's writer thread batches and encodes; hand the GIL back to the event
    # loop (the Modbus polls) every 1 ms instead of every 5 ms, so a poll waits at
    # most about a millisecond for it.
    sys.setswitchinterval(GIL_SWITCH_S)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(gateway.stop()))
    await gateway.run()
    return 0


def _status(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.status import read_status, render

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{exc.source}: {'; '.join(exc.errors)}", file=sys.stderr)
        return 2
    try:
        status = read_status(config)
    except FileNotFoundError as exc:
        print(f"dehong edge status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        import orjson

        print(orjson.dumps(status).decode())
    else:
        print(render(status))
    return 0
