"""``dehong sim commerce`` (registered by simulators/cli.py): runs :mod:`.sim`."""

from __future__ import annotations

import argparse
import calendar
import json
from datetime import date

from cloud.commerce.sim import live, simulate
from cloud.db import Database
from cloud.db.migrate import upgrade_async


async def run(args: argparse.Namespace) -> int:
    if args.database_url:
        url = args.database_url
    else:
        from cloud.settings import Settings

        url = Settings().database_url
    if args.months < 1 or args.months > 60:
        print(f"dehong sim commerce: --months is 1 to 60, got {args.months}")
        return 2
    if args.per_day <= 0:
        print(f"dehong sim commerce: --per-day must be positive, got {args.per_day}")
        return 2
    end: date | None = None
    if args.end:
        try:
            y, m = (int(x) for x in args.end.split("-"))
            end = date(y, m, calendar.monthrange(y, m)[1])
        except ValueError:
            print(f"dehong sim commerce: --end is YYYY-MM, got {args.end!r}")
            return 2
    await upgrade_async(url)
    db = Database(url)
    try:
        got = await simulate(db, months=args.months, end=end, per_day=args.per_day,
                             seed=args.seed)  # fmt: skip
        print(json.dumps(got))
        if args.live:
            print(f"live: adding orders every {args.live_interval} s (Ctrl-C stops)")
            await live(db, per_day=args.per_day, seed=args.seed, interval_s=args.live_interval)
    finally:
        await db.dispose()
    return 0
