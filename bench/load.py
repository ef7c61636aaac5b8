"""An HTTP load tool, run as its own process so that it does not share the server's
event loop: ``python -m bench.load URL [--header 'K: V'] --concurrency 16 --duration 10``.
Prints one JSON line: requests, req/s, p50 and p99 latency (ms), errors."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import httpx
import orjson


async def _run(url: str, headers: dict[str, str], concurrency: int, duration_s: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def one_user() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    r = await client.get(url)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                if not ok:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(one_user() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "rps": round(n / elapsed, 1),
        "p50_ms": round(latencies[n // 2] * 1000, 1) if n else None,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 1) if n else None,
        "errors": errors,
        "concurrency": concurrency,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url")
    p.add_argument("--header", action="append", default=[], help="'Name: value'")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=10.0)
    args = p.parse_args(argv)
    headers = dict(h.split(": ", 1) for h in args.header)
    result = asyncio.run(_run(args.url, headers, args.concurrency, args.duration))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
