"""A TCP proxy the chaos tests control: pass traffic, or become a silent black hole.

In black-hole mode the proxy keeps every connection open and forwards nothing,
in either direction, and sends no FIN or RST, exactly like a 4G link that
died without telling anyone; new connections are accepted and then starve.
The gateway must notice through its MQTT keepalive (no PINGRESP) and
reconnect once the link is back. :meth:`TcpProxy.cut` instead closes every
connection (a clean drop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class TcpProxy:
    """``127.0.0.1:{port}`` -> ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def black_hole(self) -> bool:
        return not self._open.is_set()

    def set_black_hole(self, on: bool) -> None:
        """Start (True) or stop (False) swallowing all traffic silently."""
        if on:
            self._open.clear()
        else:
            self._open.set()
        log.info("tcp proxy %d: %s", self.port, "black hole" if on else "passing")

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Close every proxied connection (with FIN)."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await self._open.wait()  # a black hole accepts, then starves the connection
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)
            for w in (writer, up_writer):
                w.close()
                self._writers.discard(w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                # in a black hole, bytes already read are held, never delivered
                await self._open.wait()
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
