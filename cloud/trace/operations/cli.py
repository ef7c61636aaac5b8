"""``dehong trace op STEP``: record one of our own trace steps (harvest, process, pack,
test, store, load, receive, sell), as ``POST /api/v1/trace/ops/STEP`` does.

The body is the API's JSON (``--json FILE``, or ``--json -`` for standard input); the
flags cover the common cases and win over the file: ``--lot GTIN/LOT`` (repeatable: the
items; for harvest and test the lot), ``--container`` (repeatable), ``--location-id``,
``--time``, ``--event-id``, ``--note``, and per step ``--org-id``, ``--quantity``,
``--unit`` (harvest), ``--parent`` (pack), ``--destination-id`` (load), ``--source-id``
(receive), ``--buyer``, ``--order`` (sell). Prints the answer as JSON.

Acts as ``cli:<unix user>`` with the prefecture admin's rights, like the other trace
commands. Exit 0 (stored or unchanged), 1 refused (the field and the reason on stderr),
2 a bad command line.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

STEPS = ("harvest", "process", "pack", "test", "store", "load", "receive", "sell")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "op",
        help="record a trace step (harvest, process, pack, test, store, load, receive, sell)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("step", choices=STEPS)
    p.add_argument("--json", metavar="FILE", help="the body as JSON (- for standard input)")
    p.add_argument("--lot", action="append", default=[], metavar="GTIN/LOT")
    p.add_argument("--container", action="append", default=[], metavar="SSCC_OR_URI")
    for flag in ("--location-id", "--org-id", "--destination-id", "--source-id"):
        p.add_argument(flag, type=int)
    for flag in ("--time", "--event-id", "--note", "--unit", "--parent", "--buyer", "--order"):
        p.add_argument(flag)
    p.add_argument("--quantity", type=float)
    p.set_defaults(handler=_op)


def _fail(message: str) -> int:
    print(f"dehong trace op: {message}", file=sys.stderr)
    return 2


def _lot_ref(text: str) -> dict[str, str]:
    gtin, sep, number = text.partition("/")
    if not sep or not gtin or not number:
        raise ValueError(f"--lot {text!r}: give GTIN/LOT, e.g. 06901234000016/MS-2026-01")
    return {"gtin": gtin, "lot": number}


def body_of(args: argparse.Namespace) -> dict[str, Any]:
    """The body: the JSON file's, with the flags over it (ValueError for a bad one)."""
    import json
    from pathlib import Path

    body: dict[str, Any] = {}
    if args.json is not None:
        text = sys.stdin.read() if args.json == "-" else Path(args.json).read_text("utf-8")
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--json: not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("--json: the body is a JSON object")
    lots = [_lot_ref(t) for t in args.lot]
    if lots:
        if args.step == "harvest":
            if len(lots) > 1:
                raise ValueError("--lot: a harvest makes one lot")
            body.update(lots[0])
        elif args.step == "test":
            if len(lots) > 1:
                raise ValueError("--lot: a test names one lot")
            body["lot"] = lots[0]
        elif args.step == "process":
            body["inputs"] = lots
        else:
            body["lots"] = lots
    if args.container:
        body["containers"] = list(args.container)
    for name in (
        "location_id", "org_id", "destination_id", "source_id", "time", "event_id", "note",
        "unit", "parent", "buyer", "order", "quantity",
    ):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            body[name] = value
    return body


async def _op(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    from cloud.db import Database
    from cloud.errors import ApiError
    from cloud.settings import get_settings
    from cloud.trace.custody.cli import _actor
    from cloud.trace.custody.service import job_principal
    from cloud.trace.lots.router import lot_out
    from cloud.trace.operations import service
    from cloud.trace.operations.schemas import BODIES, OpOut, body_path

    try:
        raw = body_of(args)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    try:
        body = BODIES[args.step].model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = body_path(("body", *first["loc"]))
        print(f"dehong trace op: {field}: {first['msg']}", file=sys.stderr)
        return 1
    db = Database(get_settings().database_url)
    principal = job_principal(_actor())
    try:
        async with db.transaction() as s:
            done = await service.OPERATIONS[args.step](s, body, principal)  # type: ignore[arg-type]
            lot = None
            if done.lot is not None:
                lot = lot_out(done.lot, await service.lot_parents(s, done.lot))
    except ApiError as exc:
        print(f"dehong trace op: {exc.status_code} {exc.detail}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    out = OpOut(event_id=done.event_id, outcome=done.outcome, event=done.event, lot=lot)
    print(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0
