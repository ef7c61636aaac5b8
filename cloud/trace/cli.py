"""``dehong trace ...``: the trace package's commands.

Each sub-area adds its commands through :data:`COMMANDS` (a ``register(sub)`` each),
as the routers gather in :mod:`cloud.trace.router`. Only the standard library is
imported here and by each ``register``: building the ``dehong`` parser stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cloud.trace.brand import cli as brand_cli
from cloud.trace.custody import cli as custody_cli
from cloud.trace.log import cli as log_cli
from cloud.trace.operations import cli as operations_cli
from cloud.trace.seed import cli as seed_cli

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

#: Each sub-area's ``register(sub)``, in the order of ``dehong trace --help``.
COMMANDS: list[Registrar] = [
    log_cli.register,
    custody_cli.register,
    brand_cli.register,
    operations_cli.register,
    seed_cli.register,
]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trace = subparsers.add_parser(
        "trace",
        help="traceability: verify lot bundles against the tamper-evident log; custody "
        "evidence; brand; record trace steps; a synthetic history (seed)",
    )
    sub = trace.add_subparsers(dest="trace_command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
