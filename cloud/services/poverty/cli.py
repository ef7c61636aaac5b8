"""``dehong poverty ...``: the scheduled and operator jobs of the poverty-alleviation
households.

- ``retention-sweep [--today YYYY-MM-DD]``: erase the personal data of every household
  whose retention period has ended (each erasure audited, actor ``cli:<user>``). In
  production ``dehong cloud jobs`` runs it hourly (cloud/jobs.py).
- ``pii-rewrap``: after a master-key rotation, re-wrap the households' sealed fields
  with the active key (``dehong logistics pii-rewrap`` does the logistics ones); run it
  until it prints ``households=0``, then the old key can go.

Only the standard library at module level (the edge-only install builds the whole parser).
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("poverty", help="poverty-alleviation households: retention, keys")
    sub = p.add_subparsers(dest="poverty_command", required=True, metavar="COMMAND")
    sweep = sub.add_parser("retention-sweep", help="erase households past their retention")
    sweep.add_argument("--today", help="YYYY-MM-DD (default: today, Beijing)")
    sweep.set_defaults(handler=_sweep)
    rewrap = sub.add_parser("pii-rewrap", help="re-wrap sealed fields with the active key")
    rewrap.set_defaults(handler=_rewrap)


def _fail(message: str) -> int:
    print(f"dehong poverty: {message}", file=sys.stderr)
    return 1


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


async def _sweep(args: argparse.Namespace) -> int:
    from datetime import date

    from cloud.db import Database
    from cloud.services.poverty.router import today
    from cloud.services.poverty.service import erase_expired
    from cloud.settings import get_settings

    try:
        day = date.fromisoformat(args.today) if args.today else today()
    except ValueError:
        return _fail(f"--today: {args.today!r} is not YYYY-MM-DD")
    db = Database(get_settings().database_url)
    try:
        async with db.transaction() as s:
            done = await erase_expired(s, None, day, _actor())
    finally:
        await db.dispose()
    print(f"erased={len(done)}" + (f" households={','.join(map(str, done))}" if done else ""))
    return 0


async def _rewrap(args: argparse.Namespace) -> int:
    from cloud.db import Database
    from cloud.pii import PiiError, PiiKeyError, keyring_for
    from cloud.services.poverty.service import rewrap_all
    from cloud.settings import get_settings

    settings = get_settings()
    try:
        ring = keyring_for(settings.pii_keys.get_secret_value(), settings.pii_key_file,
                           demo=settings.demo)  # fmt: skip
    except PiiKeyError as exc:
        return _fail(str(exc))
    db = Database(settings.database_url)
    try:
        async with db.transaction() as s:
            n = await rewrap_all(s, ring)
    except (PiiError, PiiKeyError) as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    print(f"households={n}")
    return 0
