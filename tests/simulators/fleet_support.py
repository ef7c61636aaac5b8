"""Helpers of the fleet simulator's tests: small fleets and an HTTP receiver."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from simulators.fleet.config import Fleet, parse_fleet
from simulators.fleet.sim import TruckSim


def small_fleet(vehicles: list[dict[str, Any]]) -> Fleet:
    return parse_fleet({"vehicles": vehicles}, "test")


def emissions_until(sim: TruckSim, end_ms: int) -> list[Any]:
    out = []
    for em in sim.emissions():
        if em.t_ms > end_ms:
            return out
        out.append(em)
    return out


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)


@contextlib.asynccontextmanager
async def http_receiver() -> AsyncIterator[Receiver]:
    """A real HTTP server (uvicorn, this event loop) that records every request, answers 200."""
    import uvicorn

    rec = Receiver()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        from urllib.parse import parse_qsl

        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        rec.requests.append(
            Recorded(
                scope["method"],
                scope["path"],
                dict(parse_qsl(scope["query_string"].decode())),
                headers.get("content-type", ""),
                body,
            )
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    rec.url = f"http://127.0.0.1:{port}/"
    try:
        yield rec
    finally:
        server.should_exit = True
        await task
