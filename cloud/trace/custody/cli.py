"""``dehong trace evidence``: compute custody evidence (the periodic job, or named lots).

Without ``--lot``, one pass of the job: the closed custody intervals of the lots that
events stored since the last pass touched (named, or in a container they name), and a
recheck of every interval whose evidence ends within raw retention (100 days), so that
late data (a gateway's backlog) gives a superseding evidence event. ``--every S`` repeats
the pass every S seconds (run one such process: a service, or a timer running single
passes). With ``--lot GTIN/LOT`` (repeatable): those lots now, ``--open`` also the
interval each is in now. Exit 0, or 1 when a lot failed (named on stderr; the next pass
tries it again).
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "evidence",
        help="compute the sensor evidence of custody intervals (the periodic job, or --lot)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--lot",
        action="append",
        default=[],
        metavar="GTIN/LOT",
        help="a lot (GTIN-14, '/', lot number); repeatable",
    )
    p.add_argument(
        "--open", action="store_true", help="with --lot: also the interval the lot is in now"
    )
    p.add_argument(
        "--every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="repeat the pass every SECONDS (the job as a service)",
    )
    p.set_defaults(handler=_evidence)


def _actor() -> str:
    import getpass
    import os

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def _fail(message: str) -> int:
    print(f"dehong trace evidence: {message}", file=sys.stderr)
    return 2


async def _evidence(args: argparse.Namespace) -> int:
    import asyncio

    from sqlalchemy import select

    from cloud.catalog.gs1 import check_gtin
    from cloud.db import Database
    from cloud.settings import get_settings
    from cloud.timeseries import store_for
    from cloud.trace.custody import service
    from cloud.trace.lots.schemas import check_lot_number
    from cloud.trace.lots.storage import TraceLot

    keys = []
    for text in args.lot:
        gtin, sep, number = text.partition("/")
        if not sep:
            return _fail(f"--lot {text!r}: give GTIN/LOT, e.g. 06901234000016/MS-2026-01")
        try:
            keys.append((check_gtin(gtin), check_lot_number(number)))
        except ValueError as exc:
            return _fail(f"--lot {text!r}: {exc}")
    if args.every is not None and (args.every <= 0 or keys):
        return _fail("--every: a positive number of seconds, without --lot")
    settings = get_settings()
    db = Database(settings.database_url)
    tsdb = store_for(settings)
    await tsdb.open()
    principal = service.job_principal(_actor())
    failed = False
    try:
        if keys:
            async with db.session() as s:
                lots = []
                for gtin, number in keys:
                    lot = await s.scalar(
                        select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == number)
                    )
                    if lot is None:
                        return _fail(f"--lot {gtin}/{number}: no such lot")
                    lots.append(lot)
            for lot in lots:
                done = await service.compute_evidence(
                    db, tsdb, lot, principal, include_open=args.open
                )
                print(
                    f"{lot.gtin}/{lot.lot}: {len(done.stored)} stored "
                    f"({len(done.superseded)} superseding), {done.unchanged} unchanged, "
                    f"{done.final} final, {done.unmeasured} not measured"
                )
                for event_id in done.stored:
                    print(f"  {event_id}")
            return 0
        while True:
            result = await service.run_pass(db, tsdb, principal)
            print(
                f"evidence pass: {result.lots} lots, {result.stored} events stored "
                f"({result.superseded} superseding), {result.unchanged} unchanged; "
                f"events read up to {result.upto_seq}",
                flush=True,
            )
            for error in result.errors:
                print(f"  FAILED {error}", file=sys.stderr, flush=True)
            failed = bool(result.errors)
            if args.every is None:
                break
            await asyncio.sleep(args.every)
    finally:
        await tsdb.close()
        await db.dispose()
    return 1 if failed else 0
