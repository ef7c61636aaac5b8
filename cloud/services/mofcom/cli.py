"""``dehong report ...``: reports the programme files with others. Each report adds its
command through :data:`COMMANDS` (a ``register(sub)`` each; supervision's monthly
bulletin can join the same way). Only the standard library is imported here.

- ``dehong report mofcom --month 2026-11 [--out DIR] [--push]``: the MOFCOM export of the
  month (``mofcom-2026-11-v1.json`` and ``.xlsx``, cloud/services/mofcom/FORMAT.md);
  ``--push`` also sends it to ``DEHONG_MOFCOM_PUSH_URL`` (with retry) and prints the
  delivery.
- ``dehong report mofcom-scheduler [--once]``: pushes the previous month on its day
  (``DEHONG_MOFCOM_PUSH_DAY``), checking every ``DEHONG_MOFCOM_PUSH_CHECK_S``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from cloud.settings import Settings

    s = Settings()
    if args.database_url:
        s = s.model_copy(update={"database_url": args.database_url})
    return s


def _wire() -> None:
    """The stations, training, poverty and registry sections' providers (cloud/wiring.py,
    as the app registers them): without them those sections read 未接入."""
    from cloud.wiring import wire

    wire()


async def _mofcom(args: argparse.Namespace) -> int:
    import orjson

    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.services.mofcom.export import MonthError, build_export, check_month, write_export

    try:
        check_month(args.month)
    except MonthError as exc:
        print(f"dehong report mofcom: --month: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    await upgrade_async(settings.database_url)
    _wire()
    db = Database(settings.database_url)
    try:
        doc = await build_export(db, args.month)
        json_path, xlsx_path = write_export(doc, args.out)
        print(f"wrote {json_path}")
        print(f"wrote {xlsx_path}")
        if args.push:
            from cloud.services.mofcom.push import PushNotConfigured, push

            try:
                row = await push(db, settings, args.month, trigger="cli", actor="cli")
            except PushNotConfigured as exc:
                print(f"dehong report mofcom: --push: {exc}", file=sys.stderr)
                return 2
            print(orjson.dumps({"delivery": row.id, "status": row.status,
                                "attempts": row.attempts}).decode())  # fmt: skip
            return 0 if row.status == "sent" else 1
    finally:
        await db.dispose()
    return 0


async def _scheduler(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from datetime import UTC, datetime

    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.services.mofcom.push import run_due, scheduler

    settings = _settings(args)
    if not settings.mofcom_push_url:
        print("dehong report mofcom-scheduler: DEHONG_MOFCOM_PUSH_URL is not set", file=sys.stderr)
        return 2
    await upgrade_async(settings.database_url)
    _wire()
    db = Database(settings.database_url)
    try:
        if args.once:
            row = await run_due(db, settings, now=datetime.now(UTC))
            print("nothing due" if row is None else f"{row.month}: {row.status}")
            return 0 if row is None or row.status == "sent" else 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await scheduler(db, settings, stop)
    finally:
        await db.dispose()
    return 0


def register_mofcom(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "mofcom",
        help="the MOFCOM export of one month by county: JSON and XLSX "
        "(cloud/services/mofcom/FORMAT.md); --push sends it",
    )
    p.add_argument("--month", required=True, help="YYYY-MM (Beijing), not in the future")
    p.add_argument("--out", type=Path, default=Path("."), help="folder for the files (.)")
    p.add_argument("--push", action="store_true", help="also push it (DEHONG_MOFCOM_PUSH_URL)")
    p.add_argument("--database-url", default=None, help="default: DEHONG_DATABASE_URL")
    p.set_defaults(handler=_mofcom)
    p = sub.add_parser(
        "mofcom-scheduler",
        help="push the previous month's MOFCOM export on DEHONG_MOFCOM_PUSH_DAY (runs until "
        "stopped; --once: one check)",
    )
    p.add_argument("--once", action="store_true")
    p.add_argument("--database-url", default=None, help="default: DEHONG_DATABASE_URL")
    p.set_defaults(handler=_scheduler)


#: Each report's ``register(sub)``, in the order of ``dehong report --help``.
COMMANDS: list[Registrar] = [register_mofcom]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="reports: the MOFCOM export and its push")
    sub = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
