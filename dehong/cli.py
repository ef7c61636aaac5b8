"""``dehong``: one command line for every part of the platform.

Each part registers its own sub-commands (``register(subparsers)`` in
``edge.cli``, ``cloud.cli``, ``simulators.cli``, ``bench.cli``) and imports its
heavy dependencies lazily, so a gateway with only the ``edge`` extra can run
``dehong edge ...`` without the cloud's packages installed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence

#: (module, what it needs installed) for each part that adds sub-commands.
PARTS: tuple[tuple[str, str], ...] = (
    ("dehong.demo", "dehong[cloud]"),
    ("edge.cli", "dehong[edge]"),
    ("edge.modbus_cli", "dehong[edge]"),
    ("edge.ble_cli", "dehong[edge]"),
    ("cloud.cli", "dehong[cloud]"),
    ("cloud.trace.cli", "dehong[cloud]"),
    ("cloud.coldchain.cli", "dehong[cloud]"),
    ("cloud.logistics.cli", "dehong[cloud]"),
    ("cloud.commerce.screen.cli", "dehong[cloud]"),
    ("cloud.supervision.cli", "dehong[cloud]"),
    ("cloud.services.poverty.cli", "dehong[cloud]"),
    ("cloud.services.mofcom.cli", "dehong[cloud]"),
    ("simulators.cli", "dehong[edge] or dehong[cloud]"),
    ("firmware_bridge.cli", "dehong[edge]"),
    ("bench.cli", "dehong[all]"),
    ("edge.vision.cli", "dehong[edge,vision]"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dehong", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module, _extra in PARTS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    handler = args.handler
    try:
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
    except KeyboardInterrupt:
        result = 130
    except ModuleNotFoundError as exc:
        print(
            f"dehong: {exc}. Install the extra this command needs, e.g. pip install 'dehong[all]'",
            file=sys.stderr,
        )
        result = 2
    sys.exit(int(result or 0))


if __name__ == "__main__":
    main()
