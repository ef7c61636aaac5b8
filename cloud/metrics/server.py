"""A minimal asyncio HTTP server answering ``GET /metrics`` (and nothing else).

An ingest worker has no web framework; this is all it needs so that Prometheus
can scrape each worker on its own port (``DEHONG_INGEST_METRICS_PORT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from cloud.metrics.text import CONTENT_TYPE

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192


class MetricsServer:
    def __init__(self, render: Callable[[], str], host: str = "127.0.0.1", port: int = 0) -> None:
        self.render = render
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/metrics":
            status, ctype, body = "200 OK", CONTENT_TYPE, self.render().encode()
        else:
            status, ctype, body = "404 Not Found", "text/plain", b"only GET /metrics here\n"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
