"""``dehong logistics ...`` (waybills): waybills from the command line (an operator at the server),
and the rotation of personal-data keys.

- ``dehong logistics waybill show ID``: the waybill, its events and proof, as JSON.
- ``dehong logistics waybill move ID STATUS [--trip-id N] [--at ISO] [--note T]``: a
  transition (the same state machine and trace events as the API; actor ``cli:<user>``).
- ``dehong logistics waybill arrived ID``: what the geofence engine calls
  (``mark_arrived``), by hand.
- ``dehong logistics waybill pdf ID -o FILE``: the printable waybill.
- ``dehong logistics pii-rewrap``: re-wrap every sealed logistics field's data key with
  the active master key (after putting a new key first in DEHONG_PII_KEYS); prints how
  many changed. The old key can go once this reports none left.

Only the standard library is imported by ``register``: the ``dehong`` parser stays light.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``waybill ...`` and ``pii-rewrap`` under ``dehong logistics``."""
    wb = sub.add_parser("waybill", help="one waybill").add_subparsers(
        dest="waybill_command", required=True, metavar="ACTION"
    )
    show = wb.add_parser("show", help="the waybill with its events, as JSON")
    show.add_argument("waybill_id", type=int)
    show.set_defaults(handler=_show)
    move = wb.add_parser("move", help="a transition (assigned needs --trip-id)")
    move.add_argument("waybill_id", type=int)
    move.add_argument("to", choices=("assigned", "loaded", "departed", "arrived", "rejected",
                                     "damaged", "returned"))  # fmt: skip
    move.add_argument("--trip-id", type=int)
    move.add_argument("--at", help="ISO 8601 with offset (default: now)")
    move.add_argument("--note")
    move.set_defaults(handler=_move)
    arrived = wb.add_parser("arrived", help="mark arrived as the geofence engine does")
    arrived.add_argument("waybill_id", type=int)
    arrived.set_defaults(handler=_arrived)
    pdf = wb.add_parser("pdf", help="write the printable waybill")
    pdf.add_argument("waybill_id", type=int)
    pdf.add_argument("-o", "--output", required=True)
    pdf.set_defaults(handler=_pdf)
    rewrap = sub.add_parser("pii-rewrap", help="re-wrap sealed fields with the active key")
    rewrap.set_defaults(handler=_rewrap)


def _fail(message: str) -> int:
    print(f"dehong logistics: {message}", file=sys.stderr)
    return 1


def _principal() -> Any:
    from cloud.trace.custody.cli import _actor
    from cloud.trace.custody.service import job_principal

    return job_principal(_actor())


async def _show(args: argparse.Namespace) -> int:
    import json

    from cloud.db import Database
    from cloud.errors import ApiError
    from cloud.logistics.waybills import service
    from cloud.settings import get_settings

    db = Database(get_settings().database_url)
    try:
        async with db.session() as s:
            wb = await service.get_waybill(s, args.waybill_id, _principal())
            out = service.waybill_out(wb)
            out.events = await service.events_of(s, wb.id)
    except ApiError as exc:
        return _fail(f"{exc.status_code} {exc.detail}")
    finally:
        await db.dispose()
    print(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0


async def _move(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from cloud.db import Database
    from cloud.errors import ApiError
    from cloud.logistics.waybills import lifecycle
    from cloud.logistics.waybills.schemas import TransitionIn
    from cloud.settings import get_settings

    try:
        body = TransitionIn.model_validate(
            {"to": args.to, "trip_id": args.trip_id, "at": args.at, "note": args.note}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        return _fail(f"--{'-'.join(str(x) for x in first['loc'])}: {first['msg']}")
    db = Database(get_settings().database_url)
    try:
        async with db.transaction() as s:
            moved = await lifecycle.transition(s, args.waybill_id, body, _principal(), "cli")
            status = moved.waybill.status
    except ApiError as exc:
        return _fail(f"{exc.status_code} {exc.detail}")
    finally:
        await db.dispose()
    print(f"waybill {args.waybill_id}: {status}")
    return 0


async def _arrived(args: argparse.Namespace) -> int:
    from cloud.db import Database, utcnow
    from cloud.logistics.waybills.api import mark_arrived
    from cloud.logistics.waybills.states import IllegalTransition
    from cloud.settings import get_settings

    db = Database(get_settings().database_url)
    try:
        async with db.transaction() as s:
            moved = await mark_arrived(s, args.waybill_id, utcnow(), "cli")
    except (LookupError, IllegalTransition) as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    print(f"waybill {args.waybill_id}: {'arrived' if moved else 'already arrived or past it'}")
    return 0


async def _pdf(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from cloud.db import Database
    from cloud.errors import ApiError
    from cloud.fsutil import write_atomic
    from cloud.logistics.waybills import document, service
    from cloud.settings import get_settings

    settings = get_settings()
    db = Database(settings.database_url)
    try:
        async with db.session() as s:
            wb = await service.get_waybill(s, args.waybill_id, _principal())
            data = await document.render(s, wb, settings.public_base_url)
    except ApiError as exc:
        return _fail(f"{exc.status_code} {exc.detail}")
    finally:
        await db.dispose()
    await asyncio.to_thread(write_atomic, Path(args.output), data)
    print(f"{args.output}: {len(data)} bytes")
    return 0


async def _rewrap(args: argparse.Namespace) -> int:
    from cloud.db import Database
    from cloud.logistics.pii_rotation import rewrap_all
    from cloud.pii import PiiError, PiiKeyError, keyring_for
    from cloud.settings import get_settings

    settings = get_settings()
    try:
        ring = keyring_for(settings.pii_keys.get_secret_value(), settings.pii_key_file,
                           demo=settings.demo)  # fmt: skip
    except PiiKeyError as exc:
        return _fail(str(exc))
    db = Database(settings.database_url)
    try:
        counts = await rewrap_all(db, ring)
    except (PiiError, PiiKeyError) as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0
