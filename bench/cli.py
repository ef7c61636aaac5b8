"""``dehong bench ...``: benchmarks that print one JSON line each, baseline included."""

from __future__ import annotations

import argparse
import sys

import orjson


def _wire(args: argparse.Namespace) -> int:
    from bench.wire import run

    result = run(short=args.short, keepalive_s=args.keepalive)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0 if result["goal_met"] else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bench = sub.add_parser("bench", help="run a benchmark; prints one JSON line")
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    p = kinds.add_parser("wire", help="bytes per reading on the wire (goal: <= 12)")
    p.add_argument("--short", action="store_true", help="fewer samples, for CI")
    p.add_argument("--keepalive", type=int, default=60, help="MQTT keepalive in seconds")
    p.set_defaults(handler=_wire)
