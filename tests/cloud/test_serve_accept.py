"""``cloud serve`` accepts every pending connection in one loop turn.

With uvloop (uvicorn's pick by itself), libuv accepts one connection per turn; under
load a turn serves every busy connection, so a burst of new connections waited one turn
each: 100 of them up to 0.7 s for their first answer beside 100 busy ones (the public
API's p99 at 100 connections flat out, ``dehong bench services``). Here the turns are
counted, not timed: three clients keep the loop busy with requests that hold it for
20 ms each, and twelve new connections, made at once, each ask how many of those had
been served when their own request ran. Accepted together, they all see the same count;
accepted a turn apart, the counts spread (by 24 with uvloop)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
import uvicorn

from cloud.cli import server_options
from tests.support.services import free_port

NEW = 12


def _get(s: socket.socket, path: str) -> int:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )  # fmt: skip
    while len(body) < length:
        body += s.recv(4096)
    return int(body)


def test_a_burst_of_new_connections_is_accepted_in_one_turn() -> None:
    served = {"busy": 0}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/busy":
            time.sleep(0.02)  # noqa: ASYNC251 - holds the loop, as a turn of many busy connections does
            served["busy"] += 1
        body = str(served["busy"]).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    port = free_port()
    opts = {**server_options(), "proxy_headers": False}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                            **opts)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.01)

        def busy() -> None:
            with socket.create_connection(("127.0.0.1", port)) as s:
                while not stop.is_set():
                    _get(s, "/busy")

        for _ in range(3):
            threading.Thread(target=busy, daemon=True).start()
        while served["busy"] < 10:
            time.sleep(0.01)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(NEW)]
        seen: list[int] = [0] * NEW

        def first(i: int) -> None:
            seen[i] = _get(conns[i], "/first")

        askers = [threading.Thread(target=first, args=(i,)) for i in range(NEW)]
        for t in askers:
            t.start()
        for t in askers:
            t.join(30)
        for c in conns:
            c.close()
        assert max(seen) - min(seen) <= 3, f"busy requests served before each first answer: {seen}"
    finally:
        stop.set()
        server.should_exit = True
        thread.join(10)


def test_the_osmand_port_runs_on_the_same_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """``dehong logistics osmand-serve``: phones' fixes arrive on new connections in
    bursts (back in coverage), so the OsmAnd port runs on the loop measured above too."""
    import argparse

    from cloud.logistics.positions import cli, serve

    got: dict[str, Any] = {}
    monkeypatch.setattr(serve, "standalone_app", lambda *_: "app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: got.update(kw, app=app))
    assert cli._osmand_serve(argparse.Namespace(host="127.0.0.1", port=0)) == 0
    assert got["app"] == "app" and got["loop"] == server_options()["loop"] == "asyncio"
