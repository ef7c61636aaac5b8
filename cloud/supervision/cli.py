"""``dehong supervision tick [--today YYYY-MM-DD] [--channel NAME ...]``: send the
rhythm's due reminders and overdue flags (a monthly report: reminded the 20th,
overdue from the 26th) through the channels of ``DEHONG_NOTIFY_CHANNELS``
(cloud/notify/README.md); one JSON line per message. It is idempotent: in production
``dehong cloud jobs`` runs it hourly (cloud/jobs.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sv = sub.add_parser("supervision", help="programme supervision: reminders of the rhythm")
    svs = sv.add_subparsers(dest="supervision_command", required=True, metavar="COMMAND")
    t = svs.add_parser("tick", help="send due reminders and overdue flags (idempotent)")
    t.add_argument("--today", default=None, help="YYYY-MM-DD (default: today in Beijing)")
    t.add_argument(
        "--channel",
        action="append",
        default=None,
        help="a configured channel (repeatable; default: every configured one)",
    )
    t.set_defaults(handler=_tick)


async def _tick(args: argparse.Namespace) -> int:
    from cloud.db import Database
    from cloud.notify import Notifier, channels_from_env
    from cloud.settings import get_settings
    from cloud.supervision.reminders import tick

    try:
        today = (
            date.fromisoformat(args.today)
            if args.today
            else datetime.now(ZoneInfo("Asia/Shanghai")).date()
        )
    except ValueError:
        print(f"error: --today: {args.today!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        channels = channels_from_env()
    except ValueError as exc:
        print(f"error: DEHONG_NOTIFY_CHANNELS: {exc}", file=sys.stderr)
        return 2
    names = args.channel or sorted(channels)
    unknown = [n for n in names if n not in channels]
    if unknown or not names:
        print(
            f"error: --channel: {', '.join(unknown) or 'none configured'} "
            f"(configured: {', '.join(sorted(channels)) or 'none'})",
            file=sys.stderr,
        )
        return 2
    db = Database(get_settings().database_url)
    notifier = Notifier(db, channels)
    try:
        for sent in await tick(db, notifier, names, today):
            print(
                json.dumps(
                    {
                        "schedule_id": sent.item_id,
                        "what": sent.what,
                        "county": sent.county,
                        "kind": sent.kind,
                        "ref": sent.ref,
                        "statuses": sent.statuses,
                    },
                    ensure_ascii=False,
                )
            )
    finally:
        await notifier.aclose()
        await db.dispose()
    return 0
