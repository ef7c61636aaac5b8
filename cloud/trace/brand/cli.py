"""``dehong trace brand-sweep``: re-evaluate every lot holding the 德宏品牌 (all
counties, or ``--county``), recording a decision for each that lost it (a certificate
expired, a test fell out of its window). Run it daily (cron, a systemd timer) so an
expiry is on record even for lots nobody reads; reads notice it too. Prints one JSON
line; audited as ``brand.swept`` by ``cli:<user>``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "brand-sweep",
        help="re-evaluate every lot holding the regional brand (run daily)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--county", default=None, help="only this county (GB/T 2260 code)")
    p.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    return sweep(args.county)


async def sweep(county: str | None, database_url: str | None = None) -> int:
    import getpass
    import json

    from cloud.audit.service import record
    from cloud.db import Database
    from cloud.settings import get_settings
    from cloud.trace.brand.service import sweep as sweep_lots
    from protocol.ids import COUNTY_CODES, PREFECTURE

    if county is not None and county not in COUNTY_CODES:
        print(f"dehong trace brand-sweep: --county is one of {', '.join(COUNTY_CODES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        actor = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        actor = "cli:unknown"
    db = Database(database_url or get_settings().database_url)
    try:
        async with db.transaction() as s:
            looked, decided = await sweep_lots(s, None if county is None else [county])
            await record(s, actor, "brand.swept", "brand", county or PREFECTURE,
                         {"looked_at": looked, "decisions": decided})  # fmt: skip
    finally:
        await db.dispose()
    print(json.dumps({"looked_at": looked, "decisions": decided}))
    return 0
