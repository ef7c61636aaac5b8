"""A minimal asyncio HTTP server answering ``GET /metrics`` (and nothing else).

An ingest worker has no web framework; this is all it needs so that Prometheus
can scrape each worker on its own port (``DEHONG_INGEST_METRICS_PORT``). The body
is rendered by prometheus_client from the worker's own registry, in Prometheus
text or OpenMetrics as the scraper asks (``Accept``).

Access: with ``DEHONG_METRICS_TOKEN`` set, a scrape must send it as a bearer token
(401 otherwise). Without one the listener serves loopback only: binding another
address without a token is refused at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CollectorRegistry

from cloud.metrics.access import check_listener, render, token_ok

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192


class MetricsServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
    ) -> None:
        check_listener(host, token)
        self.registry = registry
        self.host = host
        self.port = port
        self.token = token or ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_REQUEST_BYTES
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _answer(self, head: bytes) -> tuple[str, str, bytes, str]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {
            k.strip().lower(): v.strip()
            for k, sep, v in (line.partition(":") for line in lines[1:])
            if sep
        }
        if not (len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/metrics"):
            return "404 Not Found", "text/plain", b"only GET /metrics here\n", ""
        if self.token and not token_ok(headers.get("authorization"), self.token):
            return (
                "401 Unauthorized",
                "text/plain",
                b"send the scrape token: Authorization: Bearer <DEHONG_METRICS_TOKEN>\n",
                'WWW-Authenticate: Bearer realm="metrics"\r\n',
            )
        body, ctype = render(self.registry, headers.get("accept"))
        return "200 OK", ctype, body, ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        status, ctype, body, extra = self._answer(head)
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
