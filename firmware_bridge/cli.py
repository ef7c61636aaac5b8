"""``dehong fw ...``: firmware tools for the release engineer and the technician.

``provision`` is here; the modules of :data:`FW_PARTS` add their actions to the
same ``fw`` group with ``register(fw_subparsers)``::

    dehong fw provision --config gateway.yaml --node door-1 --console /dev/ttyUSB2
    dehong fw keygen --out keys/
    dehong fw sign --key keys/fw-signing.key --image app.bin --target esp32-soil-v2 \\
        --version 1.4.0 --out release/
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

#: Modules that add ``dehong fw`` actions (each has ``register(sub)``).
FW_PARTS: tuple[str, ...] = ("firmware_bridge.signing.cli", "firmware_bridge.selfupdate.cli")


def register(subparsers) -> None:
    fw = subparsers.add_parser("fw", help="microcontroller nodes: provisioning, firmware images")
    fw_sub = fw.add_subparsers(dest="fw_command", required=True, metavar="ACTION")
    add_provision(fw_sub)
    for module in FW_PARTS:
        importlib.import_module(module).register(fw_sub)


def add_provision(fw_sub) -> None:
    p = fw_sub.add_parser(
        "provision",
        help="make a node key, write it over the node's serial console, store it encrypted",
    )
    p.add_argument("--config", "-c", required=True, help="gateway YAML (where the key store is)")
    p.add_argument("--node", required=True, help="the node's id in mcu.nodes")
    p.add_argument("--console", required=True, help="the node's serial console, e.g. /dev/ttyUSB2")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the node")
    p.set_defaults(handler=_provision)


def _provision(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from firmware_bridge.keystore import KeyStoreError
    from firmware_bridge.provision import ProvisionError, provision

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print("\n".join(f"{exc.source}: {e}" for e in exc.errors), file=sys.stderr)
        return 2
    spec = next((n for n in config.mcu.nodes if n.id == args.node), None)
    if spec is None:
        known = ", ".join(n.id for n in config.mcu.nodes) or "none"
        print(f"--node: no node {args.node!r} in mcu.nodes (known: {known})", file=sys.stderr)
        return 2
    store, store_key = config.mcu_keystore_paths()
    try:
        done = provision(args.console, spec.bus, spec.node, store, store_key, args.timeout)
    except (ProvisionError, KeyStoreError, OSError) as exc:
        print(f"provision {args.node}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"node": args.node, "bus": done.bus, "address": done.node,
                      "fingerprint": done.fingerprint, "keystore": str(store)}))  # fmt: skip
    return 0
