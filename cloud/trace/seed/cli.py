"""``dehong trace seed --lots N``: a large synthetic history, as if captured (see
:mod:`cloud.trace.seed.history`): catalog organisations, locations and products,
registered lots, ``N * --events-per-lot`` EPCIS events (CBV 2.0 event hashes as
eventIDs) in the event tables and in the tamper-evident log. Deterministic with
``--seed``; the lots are numbered ``S{seed}-{i}``, so another seed adds to a database
already seeded. The database must be migrated (``dehong init-db``). Prints one JSON
line: lots, events, seconds, events/s.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "seed",
        help="write a large synthetic trace history (lots, events, log) for benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--lots", type=int, required=True, metavar="N", help="lots to make")
    p.add_argument(
        "--events-per-lot", type=int, default=10, metavar="E", help="events per lot (10)"
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (1)")
    p.add_argument(
        "--database-url", default=None, help="relational database (default: the settings')"
    )
    p.set_defaults(handler=_seed)


def _seed(args: argparse.Namespace) -> int:
    import asyncio

    import orjson

    from cloud.db import Database
    from cloud.settings import get_settings
    from cloud.trace.seed.history import seed_history

    url = args.database_url or get_settings().database_url

    def progress(lots: int, events: int) -> None:
        print(f"trace seed: {lots} lots, {events} events", file=sys.stderr, flush=True)

    async def main() -> dict[str, object]:
        db = Database(url)
        try:
            result = await seed_history(
                db, args.lots, events_per_lot=args.events_per_lot, seed=args.seed,
                progress=progress,
            )  # fmt: skip
        finally:
            await db.dispose()
        return {"command": "trace seed", "seed": args.seed, **result.as_dict()}

    try:
        out = asyncio.run(main())
    except ValueError as exc:
        print(f"dehong trace seed: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    return 0
