"""An HTTP load tool, run as its own process so that it does not share the server's
event loop: ``python -m bench.load URL [--header 'K: V'] --concurrency 16 --duration 10``.
Prints one JSON line: requests, req/s, p50 and p99 latency (ms), errors.

Two modes:

- **closed loop** (default): ``--concurrency`` clients, each sends its next request
  when the last one is answered; measures throughput (req/s) at saturation.
- **open loop** (``--rate R``): requests start on a fixed schedule, ``R`` per second
  (the i-th at ``t0 + i / R``), whether or not earlier ones were answered, each on
  its own connection if all are busy. Latency is measured from the request's
  *scheduled* time, so time spent queued (in the server, or in this process when it
  falls behind) counts: no coordinated omission. ``max_start_lag_ms`` says how late
  this process started a request at worst (a load tool that cannot keep its schedule
  shows it there).

- **think time** (``--think S``, with ``--concurrency``): each client sends a request,
  reads the answer, then waits a think time drawn uniformly from ``[S/2, 3S/2]`` (mean
  ``S``) before its next, as people on phones do; the first request of each client
  starts at a uniform offset in ``[0, S]`` so that the clients do not move in step.

Options for all: ``--url-file`` (one URL per line, used in turn: e.g. many serials),
``--expect`` (the status that counts as success: 301 for redirects, which are not
followed), ``--forwarded-for N`` (an ``X-Forwarded-For`` from N addresses in turn, as
N clients behind our proxy; uvicorn believes it from loopback, so a per-address rate
limit sees N clients), ``--per-url`` (a summary per URL beside the total, for a mix
of URLs used in turn by each client: all of them see the same moments of the run),
``--raw`` (each URL's latencies in ms too, for a caller merging several processes).
The line also says this process's own CPU seconds (``cpu_s``) and its share of a core
(``cpu_share``): a load tool near 1.0 is the bottleneck, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import httpx
import orjson


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of sorted values, nearest rank; None when empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    return sorted_values[min(n - 1, max(0, int(n * q + 0.999999) - 1))]


def schedule(rate: float, duration_s: float) -> list[float]:
    """The open loop's start offsets (s from t0): one every 1/rate, for ``duration_s``."""
    n = int(rate * duration_s + 1e-9)
    return [i / rate for i in range(n)]


def forwarded(n: int) -> Iterator[str | None]:
    """``X-Forwarded-For`` values from ``n`` addresses in 10.0.0.0/8, in turn (n=0: none)."""
    if n <= 0:
        return itertools.repeat(None)
    return itertools.cycle(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(n))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None

    def add(self, seconds: float, status: int | str, ok: bool) -> None:
        self.latencies.append(seconds)
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if not ok:
            self.errors += 1
            if self.first_error is None:
                self.first_error = key

    def summary(self, elapsed: float, raw: bool = False) -> dict:
        lat = sorted(self.latencies)
        n = len(lat)

        def ms(q: float) -> float | None:
            v = percentile(lat, q)
            return None if v is None else round(v * 1000, 1)

        return {
            "requests": n,
            "rps": round(n / elapsed, 1) if elapsed > 0 else None,
            "p50_ms": ms(0.50),
            "p90_ms": ms(0.90),
            "p99_ms": ms(0.99),
            "max_ms": round(lat[-1] * 1000, 1) if n else None,
            "mean_ms": round(sum(lat) / n * 1000, 1) if n else None,
            "errors": self.errors,
            "statuses": self.statuses,
            **({"first_error": self.first_error} if self.first_error else {}),
            **({"latencies_ms": [round(v * 1000, 2) for v in self.latencies]} if raw else {}),
        }


async def _get(
    client: httpx.AsyncClient, url: str, xff: str | None, expect: int
) -> tuple[int | str, bool]:
    try:
        r = await client.get(url, headers={"X-Forwarded-For": xff} if xff else None)
        await r.aread()
        return r.status_code, r.status_code == expect
    except httpx.HTTPError as exc:
        return type(exc).__name__, False


async def closed_loop(
    urls: Sequence[str],
    headers: dict[str, str],
    concurrency: int,
    duration_s: float,
    *,
    expect: int = 200,
    forwarded_for: int = 0,
    think_s: float = 0.0,
    per_url: bool = False,
    raw: bool = False,
) -> dict:
    """``concurrency`` clients; each sends its next request when the last is answered
    (after a think time when ``think_s`` > 0). With ``per_url`` each client goes
    through ``urls`` in turn from its own starting point, and each URL is tallied
    apart too."""
    tally = Tally()
    by_url = {u: Tally() for u in urls}
    next_url = itertools.cycle(urls)
    xffs = forwarded(forwarded_for)
    deadline = time.monotonic() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    rng = random.Random()
    cpu0 = time.process_time()
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def one_user(k: int) -> None:
            mine = itertools.cycle(urls[k % len(urls) :] + urls[: k % len(urls)])
            if think_s > 0:
                await asyncio.sleep(rng.uniform(0, think_s))
            while time.monotonic() < deadline:
                url = next(mine) if per_url else next(next_url)
                started = time.perf_counter()
                status, ok = await _get(client, url, next(xffs), expect)
                took = time.perf_counter() - started
                tally.add(took, status, ok)
                if per_url:
                    by_url[url].add(took, status, ok)
                if think_s > 0:
                    await asyncio.sleep(rng.uniform(think_s / 2, think_s * 1.5))

        started = time.monotonic()
        await asyncio.gather(*(one_user(k) for k in range(concurrency)))
        elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu0
    out = {
        "mode": "think" if think_s > 0 else "closed",
        "concurrency": concurrency,
        **({"think_s": think_s} if think_s > 0 else {}),
        **tally.summary(elapsed),
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else None,
    }
    if per_url:
        out["by_url"] = {u: t.summary(elapsed, raw) for u, t in by_url.items()}
    return out


async def open_loop(
    urls: Sequence[str],
    headers: dict[str, str],
    rate: float,
    duration_s: float,
    *,
    expect: int = 200,
    forwarded_for: int = 0,
    max_connections: int = 512,
) -> dict:
    """Requests started on a fixed schedule (``rate`` per second), latency from each
    one's scheduled start to its answer (queueing included)."""
    tally = Tally()
    next_url = itertools.cycle(urls)
    xffs = forwarded(forwarded_for)
    offsets = schedule(rate, duration_s)
    lags: list[float] = []
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=64)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def one(planned: float, url: str, xff: str | None) -> None:
            status, ok = await _get(client, url, xff, expect)
            tally.add(loop.time() - planned, status, ok)

        tasks: list[asyncio.Task[None]] = []
        t0 = loop.time() + 0.05
        for off in offsets:
            planned = t0 + off
            wait = planned - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            lags.append(max(0.0, loop.time() - planned))
            tasks.append(asyncio.create_task(one(planned, next(next_url), next(xffs))))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - t0
    lags.sort()
    return {
        "mode": "open",
        "offered_rps": rate,
        "duration_s": duration_s,
        **tally.summary(elapsed),
        "max_start_lag_ms": round(lags[-1] * 1000, 1) if lags else None,
        "p99_start_lag_ms": round((percentile(lags, 0.99) or 0.0) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url", nargs="?", help="the URL (or --url-file)")
    p.add_argument("--url-file", help="URLs, one a line, used in turn")
    p.add_argument("--header", action="append", default=[], help="'Name: value'")
    p.add_argument("--concurrency", type=int, default=16, help="closed loop: clients")
    p.add_argument("--rate", type=float, default=0.0, help="open loop: requests per second")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--expect", type=int, default=200, help="the status counted as success")
    p.add_argument("--forwarded-for", type=int, default=0, metavar="N")
    p.add_argument(
        "--think",
        type=float,
        default=0.0,
        metavar="S",
        help="closed loop: mean think time (s) between a client's requests",
    )
    p.add_argument("--per-url", action="store_true", help="a summary per URL too")
    p.add_argument("--raw", action="store_true", help="with --per-url: the latencies too")
    args = p.parse_args(argv)
    headers = dict(h.split(": ", 1) for h in args.header)
    if args.url_file:
        with open(args.url_file, encoding="utf-8") as f:
            urls = [line.strip() for line in f if line.strip()]
    elif args.url:
        urls = [args.url]
    else:
        p.error("a URL or --url-file is needed")
    common = {"expect": args.expect, "forwarded_for": args.forwarded_for}
    if args.rate > 0:
        result = asyncio.run(open_loop(urls, headers, args.rate, args.duration, **common))
    else:
        result = asyncio.run(closed_loop(urls, headers, args.concurrency, args.duration,
                                         think_s=args.think, per_url=args.per_url,
                                         raw=args.raw, **common))  # fmt: skip
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
