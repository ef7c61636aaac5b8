"""``dehong fw ...``: firmware tools for the release engineer and the technician.

Each module of :data:`FW_PARTS` adds its actions to the one ``fw`` group with
``register(fw_subparsers)``::

    dehong fw keygen --out keys/
    dehong fw sign --key keys/fw-signing.key --image app.bin --target esp32-soil-v2 \\
        --version 1.4.0 --out release/
"""

from __future__ import annotations

import argparse
import importlib

#: Modules that add ``dehong fw`` actions (each has ``register(sub)``).
FW_PARTS: tuple[str, ...] = ("firmware_bridge.signing.cli", "firmware_bridge.selfupdate.cli")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fw = subparsers.add_parser("fw", help="firmware: keys, signing, provisioning, OTA")
    sub = fw.add_subparsers(dest="fw_command", required=True, metavar="ACTION")
    for module in FW_PARTS:
        importlib.import_module(module).register(sub)
