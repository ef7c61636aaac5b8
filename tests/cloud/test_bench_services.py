"""``dehong bench services``' flat-out phases (bench/services.py, bench/wrk_flat.lua):
100 connections split over the paths, one wrk process per path, and each path alone
with 100; the script's JSON line
is read; each request carries an X-Forwarded-For from the pool, in turn; without wrk
the bench says how to get it before running anything."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from bench import services
from bench.servers import ServerMissing

WRK_OUT = """Running 1s test @ http://127.0.0.1:1/healthz
  1 threads and 20 connections
Requests/sec:    660.00
{"requests": 1981, "duration_s": 3.002, "errors": {"connect": 0, "read": 0, "write": 0, \
"status": 2, "timeout": 0}, "p50_ms": 29.08, "p90_ms": 40.34, "p99_ms": 68.66, \
"p999_ms": 95.79, "max_ms": 98.98, "mean_ms": 30.43}
"""


def test_connections_are_split_evenly_over_the_paths() -> None:
    assert services.split(100, 5) == [20] * 5
    six = services.split(100, 6)
    assert sum(six) == 100 and max(six) - min(six) == 1


def test_the_script_line_is_read_after_wrks_own_summary() -> None:
    got = services.parse_wrk(WRK_OUT)
    assert got["requests"] == 1981 and got["p99_ms"] == 68.66 and got["errors"]["status"] == 2
    with pytest.raises(RuntimeError, match="no JSON line"):
        services.parse_wrk("Running 1s test\n")


def test_the_command_runs_one_thread_and_passes_the_pool(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cmd = services.wrk_command("/usr/bin/wrk", "http://h/p", 20, 20.0, 30000)
    assert cmd[:4] == ["/usr/bin/wrk", "-t1", "-c20", "-d20s"]
    assert cmd[-4:] == ["http://h/p", "--", str(services.FORWARDED_POOL), "30000"]
    assert str(services.WRK_SCRIPT) in cmd


def test_without_wrk_the_bench_says_how_to_get_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(ServerMissing, match="apt-get install wrk"):
        services.wrk_binary()
    with pytest.raises(ServerMissing, match=r"scripts/services\.sh"):
        asyncio.run(services.run_async(True, []))


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
async def test_wrk_loads_each_path_from_the_pool_of_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two paths on a tiny HTTP server: every request of a path's wrk carries the next
    address of its part of the pool, and each path's figures come back."""
    seen: dict[str, list[str]] = {"/a": [], "/b": []}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split()[1]
            xff = [
                v.split(":", 1)[1].strip() for v in lines if v.lower().startswith("x-forwarded-for")
            ]
            seen[path].extend(xff)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    # a pool no path's part of runs out of in the second (a fast machine sends 60,000)
    monkeypatch.setattr(services, "FORWARDED_POOL", 4_000_000)
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        got = await services._wrk_flat(f"http://127.0.0.1:{port}", ["/a", "/b"], 1.0)
    assert got["generator"] == "wrk" and got["generator_cpu_share"] >= 0
    assert got["connections_per_api_process"] == [100]  # all on this process, from ss
    for path, offset in (("/a", 0), ("/b", services.FORWARDED_POOL // 2)):
        figures = got["by_path"][path]
        assert figures["connections"] == 50 and figures["errors"] == 0
        assert figures["requests"] >= len(seen[path]) - 50 > 0
        assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        numbers = [int.from_bytes(bytes(int(x) for x in a.split(".")), "big") - (10 << 24)
                   for a in seen[path]]  # fmt: skip
        # each request the next address after the path's offset, round the pool; wrk
        # takes one for each request it sends, and up to one per connection is still in
        # flight (never read by this server) when it stops
        pool = services.FORWARDED_POOL
        span = len(numbers) + figures["connections"]
        steps = [(n - offset) % pool for n in numbers]
        assert span < pool // 2 and all(0 < k <= span for k in steps), (span, max(steps))
        assert len(set(seen[path])) == len(seen[path])  # no address twice


async def test_each_path_alone_gets_all_the_connections() -> None:
    """``flat_out_each``: one path after the other, each on all 100 connections."""
    served: dict[str, int] = {"/a": 0, "/b": 0}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                served[head.split(b" ", 2)[1].decode()] += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        each = await services._wrk_each(f"http://127.0.0.1:{port}", ["/a", "/b"], 1.0)
    assert [f["connections"] for f in each["by_path"].values()] == [100, 100]
    for path, figures in each["by_path"].items():
        assert figures["errors"] == 0 and 0 < figures["requests"] <= served[path]
