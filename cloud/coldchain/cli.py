"""``dehong coldchain ...``: ``mkt FILE.csv`` prints MKT, min, max and time out of
range of a ``time,temp_c`` file as one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cc = sub.add_parser("coldchain", help="cold chain: MKT of a file, excursions, alarms")
    ccs = cc.add_subparsers(dest="coldchain_command", required=True, metavar="COMMAND")
    m = ccs.add_parser(
        "mkt",
        help="MKT (ΔH/R = 10,000 K, duration-weighted), min, max and time out of range of a "
        "CSV of time,temp_c rows, as JSON",
    )
    m.add_argument("file", type=Path, help="CSV: header time,temp_c; '-' reads stdin")
    m.add_argument("--low", type=float, default=None, help="range low bound, °C")
    m.add_argument("--high", type=float, default=None, help="range high bound, °C")
    m.add_argument(
        "--poll-s",
        type=float,
        default=None,
        help="poll interval, s (each reading holds at most 2x it); default: the readings' cadence",
    )
    m.add_argument("--start", default=None, help="interval start (ISO 8601 / epoch); default: "
                   "the first reading")  # fmt: skip
    m.add_argument("--end", default=None, help="interval end; default: one poll interval "
                   "after the last reading")  # fmt: skip
    m.set_defaults(handler=_mkt)
    r = ccs.add_parser(
        "recheck",
        help="re-evaluate a device's excursions and alarms over a stretch (after a restart "
        "or a profile change)",
    )
    r.add_argument("device")
    r.add_argument("--start", required=True, help="ISO 8601 with a zone, or epoch s/ms")
    r.add_argument("--end", required=True, help="ISO 8601 with a zone, or epoch s/ms")
    r.set_defaults(handler=_recheck)


async def _recheck(args: argparse.Namespace) -> int:
    from cloud.coldchain.engine import Engine
    from cloud.coldchain.mkt import parse_time
    from cloud.db import Database
    from cloud.settings import get_settings
    from cloud.timeseries import store_for

    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as exc:
        print(f"error: --start/--end: {exc}", file=sys.stderr)
        return 2
    if end <= start:
        print("error: --end must be after --start", file=sys.stderr)
        return 2
    settings = get_settings()
    db = Database(settings.database_url)
    tsdb = store_for(settings)
    await tsdb.open()
    try:
        engine = Engine(db, tsdb)
        if await engine.target(args.device) is None:
            print(f"error: device {args.device!r} measures no location with a commodity "
                  "profile", file=sys.stderr)  # fmt: skip
            return 2
        stored = await engine.recheck(args.device, start, end)
    finally:
        await tsdb.close()
        await db.dispose()
    print(json.dumps({"device": args.device, "excursions_from_start": stored}))
    return 0


def _mkt(args: argparse.Namespace) -> int:
    from cloud.coldchain.mkt import CsvError, csv_evidence, parse_time, read_csv, summary

    try:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8-sig")
    except OSError as exc:
        print(f"error: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"error: {args.file}: not UTF-8 text", file=sys.stderr)
        return 2
    try:
        series = read_csv(text)
        bounds = {}
        for name in ("start", "end"):
            raw = getattr(args, name)
            if raw is not None:
                try:
                    bounds[f"{name}_ms"] = parse_time(raw)
                except ValueError as exc:
                    raise ValueError(f"--{name}: {exc}") from None
        if args.low is not None and args.high is not None and args.low > args.high:
            raise ValueError(f"--low {args.low} is above --high {args.high}")
        e = csv_evidence(
            series, low=args.low, high=args.high, poll_interval_s=args.poll_s, **bounds
        )
    except CsvError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = summary(e)
    out["file"] = str(args.file)
    print(json.dumps(out, ensure_ascii=False))
    return 0
