"""``dehong sim mcu --ota-keys ...``: give each simulated node the A/B bootloader model
(simulators/mcu/bootloader.py) and its faults. Light to import (the CLI builds every
parser at start); the model is imported when it is used."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulators.mcu.bootloader import NodeModel
    from simulators.mcu.node import SimNode


def add_ota_arguments(p: argparse.ArgumentParser) -> None:
    """``dehong sim mcu`` options that give every node this bootloader model."""
    g = p.add_argument_group("OTA (A/B bootloader model, simulators/mcu/bootloader.py)")
    g.add_argument("--ota-keys", help="trusted firmware public key(s): a .pub file or a directory")
    g.add_argument("--trial-boots", type=int, default=3, help="boots before a rollback (3)")
    g.add_argument(
        "--fail-trial-boot", action="store_true", help="new images never come up (rollback)"
    )
    g.add_argument(
        "--power-loss-after",
        default="",
        metavar="N[,N...]",
        help="cut the power after this many stored chunks (each once)",
    )
    g.add_argument(
        "--corrupt-chunk",
        default="",
        metavar="OFFSET[,...]",
        help="the chunk at this stream offset arrives with a flipped byte (once each)",
    )


def attach_from_args(nodes: list[SimNode], args: argparse.Namespace) -> dict[int, NodeModel]:
    """A bootloader model per node when ``--ota-keys`` is given (else none)."""
    if not getattr(args, "ota_keys", None):
        return {}
    from firmware_bridge.signing import load_public_keys
    from simulators.mcu.bootloader import NodeModel, attach_ota

    keys = load_public_keys(args.ota_keys)

    def ints(text: str, name: str) -> list[int]:
        try:
            return [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise SystemExit(f"{name}: {text!r} is not a list of integers") from None

    models = {}
    for n in nodes:
        m = NodeModel(hardware_id=n.kind.hardware_id, public_keys=keys, image=b"\x00" * 1024,
                      version=str(n.version), trial_boots=args.trial_boots)  # fmt: skip
        m.fail_trial_boots = -1 if args.fail_trial_boot else 0
        m.power_loss_after = ints(args.power_loss_after, "--power-loss-after")
        m.corrupt_chunks = set(ints(args.corrupt_chunk, "--corrupt-chunk"))
        attach_ota(n, m)
        models[n.node_id] = m
    return models
