"""``dehong logistics ...``: each sub-package adds its own commands.

- positions (:mod:`cloud.logistics.positions.cli`): ``tracker add``, ``osmand-serve``,
  ``tracks``;
- trips (:mod:`cloud.logistics.trips.cli`): ``recompute``;
- waybills (:mod:`cloud.logistics.waybills.cli`): ``waybill show|move|arrived|pdf``,
  ``pii-rewrap``.

Only the standard library at module level (the edge-only install builds the whole parser).
"""

from __future__ import annotations

import argparse

from cloud.logistics.positions.cli import add_commands as add_positions
from cloud.logistics.trips.cli import add_commands as add_trips
from cloud.logistics.waybills.cli import add_commands as add_waybills


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lg = subparsers.add_parser(
        "logistics",
        help="logistics: phone trackers, OsmAnd, tracks, waybills, personal-data keys",
    )
    sub = lg.add_subparsers(dest="logistics_command", required=True, metavar="COMMAND")
    add_positions(sub)
    add_waybills(sub)
    add_trips(sub)
