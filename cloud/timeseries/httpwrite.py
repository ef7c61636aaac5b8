"""POSTs to InfluxDB's ``/write`` on keep-alive connections of their own.

A write is the hot path of every store of points (a phone's group of fixes, an ingest
batch): through httpx it cost ~1.3 ms of CPU for a few lines (httpx's request and
response models, httpcore's locks and events, anyio's streams, head and body sent
apart); here a request is one ``transport.write`` of head and body together, and the
answer is parsed by httptools (the C parser uvicorn uses), ~0.15 ms.

Each connection carries one request at a time; up to ``max_connections`` are open, the
idle ones kept for the next write. A write on a kept connection that the server closed
meanwhile (no byte of an answer read) is sent once more on a new one: a write of
InfluxDB is idempotent (the same points again are the same points).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import cast
from urllib.parse import urlsplit

import httptools


class WriteTransportError(ConnectionError):
    """The request could not be sent or its answer read (InfluxDB unreachable, a
    connection closed mid-answer, a timeout, an answer that is not HTTP)."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.received = False
        self.closed = False
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(WriteTransportError(f"not an HTTP answer: {exc}"))

    def eof_received(self) -> bool:
        self._fail(WriteTransportError("connection closed by the server"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(WriteTransportError(f"connection lost: {exc!r}" if exc else "connection closed"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        answer, self._answer = self._answer, None
        body, self._body = b"".join(self._body), []
        if answer is not None and not answer.done():
            answer.set_result((self._parser.get_status_code(), body))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self.received = False
        self.transport.write(data)
        return self._answer

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class LineWriter:
    """``await post(target, body)`` -> ``(status, body)``; WriteTransportError when
    InfluxDB cannot be reached or the answer does not come in ``timeout_s``."""

    def __init__(
        self,
        url: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        timeout_s: float = 10.0,
        max_connections: int = 8,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL must be http(s)://host[:port][/path], got {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers or [])
        self._head = f"Host: {host_header}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n"
        self._timeout = timeout_s
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._https and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._https else None,
                ),
                self._timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise WriteTransportError(
                f"cannot connect to {self._host}:{self._port}: {exc!r}"
            ) from exc
        return conn

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` to ``target`` (path and query, under the URL's path)."""
        if self._closed:
            raise WriteTransportError("the writer is closed")
        data = (
            f"POST {self._prefix}{target} HTTP/1.1\r\n{self._head}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        async with self._slots:
            conn = self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            try:
                status, answer = await self._send(conn, data)
            except WriteTransportError:
                if not (reused and not conn.received):
                    raise
                # a kept connection the server closed meanwhile: once more on a new one
                conn = await self._connect()
                status, answer = await self._send(conn, data)
            if conn.keep_alive and not conn.closed and not self._closed:
                self._idle.append(conn)
            else:
                conn.close()
            return status, answer

    async def _send(self, conn: _Connection, data: bytes) -> tuple[int, bytes]:
        if conn.closed:
            raise WriteTransportError("connection closed")
        try:
            return await asyncio.wait_for(conn.request(data), self._timeout)
        except TimeoutError:
            conn.close()
            raise WriteTransportError(
                f"Timeout: no answer from {self._host}:{self._port} in {self._timeout} s"
            ) from None
        except BaseException:
            conn.close()
            raise

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
