"""``dehong bench ...``: benchmarks that print one JSON line each, baseline included."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import orjson


def _emit(result: dict) -> int:
    """One JSON line; exit status 0 only when every goal was met."""
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0 if result["goal_met"] else 1


def _short_only(module: str) -> Callable[[argparse.Namespace], int]:
    """The handler of a bench whose only option is ``--short``; imported when run, so
    that building the CLI imports nothing heavy."""

    def handler(args: argparse.Namespace) -> int:
        from importlib import import_module

        return _emit(import_module(module).run(short=args.short))

    return handler


def _wire(args: argparse.Namespace) -> int:
    from bench.wire import run

    return _emit(run(short=args.short, keepalive_s=args.keepalive))


def _vision(args: argparse.Namespace) -> int:
    from bench.vision import run

    return _emit(run(short=args.short, seed_base=args.seed_base, only=tuple(args.only)))


def _chaos(args: argparse.Namespace) -> int:
    from bench.chaos import run

    return _emit(run(gateway_kills=args.kills, phase_samples=args.phase_samples))


def _trace(args: argparse.Namespace) -> int:
    from bench.trace import run

    return _emit(run(short=args.short, reseed=args.reseed))


def _trace_page(args: argparse.Namespace) -> int:
    from bench.trace_page import run

    return _emit(run(short=args.short, store=args.store, profile=args.profile))


def _ingest_profile(args: argparse.Namespace) -> int:
    from bench.ingest_profile import run

    return run(args)


def ingest_profile_arguments(p: argparse.ArgumentParser) -> None:
    """The options of bench.ingest_profile (here, so that building the CLI imports
    nothing heavy), for ``python -m bench.ingest_profile`` and ``dehong bench ingest-profile``."""
    p.add_argument("--store", choices=("influx", "lines"), default="influx")
    p.add_argument("--sqlite", action="store_true", help="SQLite relational store, not PG")
    p.add_argument("--gateways", type=int, default=200)
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--readings", type=int, default=60)
    p.add_argument("--rounds", type=int, default=4, help="measured rounds (1 batch/gateway)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--window", type=int, default=200, help="most batches unacknowledged")
    p.add_argument("--write-points", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=1, help="runs; the least CPU is reported")
    p.add_argument("--cprofile", type=int, default=0, metavar="N", help="cProfile top N")


def _services(args: argparse.Namespace) -> int:
    from bench.services import run

    return _emit(run(short=args.short, urls=args.url, workers=args.workers))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bench = sub.add_parser("bench", help="run a benchmark; prints one JSON line")
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    p = kinds.add_parser("wire", help="bytes per reading on the wire (goal: <= 12)")
    p.add_argument("--short", action="store_true", help="fewer samples, for CI")
    p.add_argument("--keepalive", type=int, default=60, help="MQTT keepalive in seconds")
    p.set_defaults(handler=_wire)
    m = kinds.add_parser(
        "mcu",
        help="MCU nodes: readings/s through a simulated 115,200-baud RS-485 line vs its "
        "capacity from the frame layout; CPU per reading beside the Modbus driver's",
    )
    m.add_argument("--short", action="store_true", help="4 s windows instead of 15 s")
    m.set_defaults(handler=_short_only("bench.mcu"))
    e = kinds.add_parser(
        "edge",
        help="durable buffer, backlog drain through broker and ingest, Modbus load alone and "
        "beside the camera, against the ThingsBoard gateway in the same run",
    )
    e.add_argument(
        "--short", action="store_true", help="5 s runs, a 10-minute outage, 20 s loads (~4 min)"
    )
    e.set_defaults(handler=_short_only("bench.edge"))
    mo = kinds.add_parser(
        "mcu-ota",
        help="node OTA: a 1 MB image over UDP with 10 %% loss (time, retransmitted bytes) and "
        "over a paced 115,200-baud serial line (goal <= 1.3x the raw line time)",
    )
    mo.add_argument("--short", action="store_true", help="256 KB over UDP, 64 KB over serial")
    mo.set_defaults(handler=_short_only("bench.mcu_ota"))
    c = kinds.add_parser(
        "chaos", help="exact counts through gateway kill -9s, a broker crash and a black hole"
    )
    c.add_argument("--kills", type=int, default=5, help="gateway kill -9s (5)")
    c.add_argument("--phase-samples", type=int, default=100, help="samples between faults (100)")
    c.set_defaults(handler=_chaos)
    al = kinds.add_parser(
        "alarm-latency",
        help="cold-chain alarm latency: publish of the batch completing an excursion (real MQTT, "
        "through ingest) -> alarm raised -> webhook delivered; p99 (goal < 5 s)",
    )
    al.add_argument("--short", action="store_true", help="20 trials instead of 100")
    al.set_defaults(handler=_short_only("bench.coldchain_latency"))
    i = kinds.add_parser(
        "ingest",
        help="cloud ingest: raw InfluxDB baseline, 200 gateways end to end, p99 to queryable, "
        "connection storm, API req/s",
    )
    i.add_argument("--short", action="store_true", help="a few minutes, 200-session storm")
    i.set_defaults(handler=_short_only("bench.ingest"))
    ip = kinds.add_parser(
        "ingest-profile",
        help="where an ingest worker spends its CPU, in µs per point by stage (in process)",
    )
    ingest_profile_arguments(ip)
    ip.set_defaults(handler=_ingest_profile)
    ir = kinds.add_parser(
        "ingest-restart",
        help="delay an ingest worker process restart adds (persistent session vs clean)",
    )
    ir.add_argument("--short", action="store_true", help="one restart each (~1 minute)")
    ir.set_defaults(handler=_short_only("bench.ingest_restart"))
    sv = kinds.add_parser(
        "services",
        help="public API (stations, showcase, an item, home) p99 at 100 concurrent phones "
        "(think time) and flat out (wrk), beside /healthz (goal < 100 ms), MOFCOM "
        "export of a simulated year (goal < 5 s)",
    )
    sv.add_argument("--short", action="store_true", help="8 s per phase, 60 orders a day")
    sv.add_argument("--url", action="append", default=[], metavar="PATH",
                    help="another public path to mix in (repeatable), e.g. /h5/")  # fmt: skip
    sv.add_argument("--workers", type=int, default=2, metavar="N",
                    help="API processes (dehong cloud serve --workers; default 2)")  # fmt: skip
    sv.set_defaults(handler=_services)
    tr = kinds.add_parser(
        "trips",
        help="trips, stops and geofence events recomputed after a 24 h offline upload of "
        "1 Hz fixes beside reading them back; replay of a 10-hour trip p99 beside /auth/me",
    )
    tr.add_argument("--short", action="store_true", help="2 recompute rounds, 30 replays")
    tr.set_defaults(handler=_short_only("bench.trips"))
    a = kinds.add_parser(
        "api",
        help="/series over 24 h beside /auth/me on the same server, 16 clients, "
        "on InfluxDB and on the embedded SQLite store",
    )
    a.add_argument("--short", action="store_true", help="8 s per endpoint instead of 20 s")
    a.set_defaults(handler=_short_only("bench.api"))
    t = kinds.add_parser(
        "trace-log",
        help="trace log on PostgreSQL: appends/s in batches of 100 beside a plain insert, "
        "inclusion proof p50/p99 at 1 M leaves beside an indexed lookup",
    )
    t.add_argument("--short", action="store_true", help="5,000 appends, 100 k leaves")
    t.set_defaults(handler=_short_only("bench.tracelog"))
    v = kinds.add_parser(
        "vision",
        help="camera inspection: accuracy on held-out synthetic seeds (default, harder and "
        "field conditions, plus each condition at its limit), speed beside a plain OpenCV "
        "pass and peak RSS on one core",
    )
    from bench.vision import add_run_arguments

    add_run_arguments(v)
    v.set_defaults(handler=_vision)
    sc = kinds.add_parser(
        "screen",
        help="the big-data screen (issue 14): every panel's Grafana query on InfluxDB and "
        "PostgreSQL (p95 < 200 ms each), the wall's whole data (< 1 s), 20 walls' p99 beside "
        "/healthz; 30 days x 200 devices at 1 min and a year of orders",
    )
    sc.add_argument("--short", action="store_true", help="3 days, two months of orders")
    sc.set_defaults(handler=_short_only("bench.screen"))
    lg = kinds.add_parser(
        "logistics",
        help="OsmAnd single fixes (16 clients) vs a trivial endpoint, and batch upload "
        "fixes/s vs a plain bulk insert (goals: >= 0.5x, >= 20,000 fixes/s)",
    )
    lg.add_argument("--short", action="store_true", help="a few seconds per phase")
    lg.set_defaults(handler=_short_only("bench.logistics"))
    cm = kinds.add_parser(
        "commerce",
        help="order import from a CSV export, rows/s, beside a plain bulk insert of the same "
        "rows (goal: >= 20,000 rows/s)",
    )
    cm.add_argument("--short", action="store_true", help="20,000 rows instead of 100,000")
    cm.set_defaults(handler=_short_only("bench.commerce"))
    rc = kinds.add_parser(
        "recall",
        help="trace recall forward and backward through 5 levels of transformation and "
        "aggregation on a 1 M-event history (PostgreSQL), beside one lot's indexed lookup",
    )
    rc.add_argument("--short", action="store_true", help="100,000 events instead of 1 M")
    rc.set_defaults(handler=_short_only("bench.recall"))
    tr = kinds.add_parser(
        "trace",
        help="issue 11's table in one line: EPCIS capture, MATCH_anyEPCClass query, recall, "
        "sensor evidence, log appends and proofs, each beside its baseline, on a 1 M-event "
        "trace seed history (PostgreSQL)",
    )
    tr.add_argument(
        "--short", action="store_true", help="75,000 events, fewer samples (a few minutes)"
    )
    tr.add_argument("--reseed", action="store_true", help="seed the kept 1 M-event database again")
    tr.set_defaults(handler=_trace)
    tp = kinds.add_parser(
        "trace-page",
        help="the consumer trace page through the resolver: req/s (16 clients) beside "
        "/healthz, p99 under an open-loop 50 req/s beside /healthz's, first-view bytes, "
        "redirects/s; the demo story on PostgreSQL",
    )
    tp.add_argument(
        "--short", action="store_true", help="8 s per endpoint, 20 s open loops (~4 min)"
    )
    tp.add_argument(
        "--store",
        choices=("influxdb", "embedded"),
        default="influxdb",
        help="time-series store: a private influxd (default) or the embedded SQLite store",
    )
    tp.add_argument(
        "--profile", action="store_true", help="run the server under cProfile; top own times"
    )
    tp.set_defaults(handler=_trace_page)
