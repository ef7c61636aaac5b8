"""InfluxDB writes on connections of their own (cloud/timeseries/httpwrite.py): head and
body in one send, keep-alive, a kept connection the server closed replaced once, the
URL's path and credentials honoured, an error body read whatever its framing."""

from __future__ import annotations

import asyncio
import base64

import pytest

from cloud.timeseries import Point, TimeSeriesError
from cloud.timeseries.httpwrite import LineWriter, WriteTransportError
from cloud.timeseries.influx import InfluxStore

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n"


class FakeInflux:
    """Answers each request with the next of ``answers`` (the last one repeated);
    records the requests' heads and bodies, the reads per request (1: head and body
    came in one piece) and the connections."""

    def __init__(self, answers: list[bytes], *, close_after: int = 0) -> None:
        self.answers = answers
        self.close_after = close_after
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                answer = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
                writer.write(answer)
                await writer.drain()
                served += 1
                if self.close_after and served >= self.close_after:
                    return
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_writes_share_one_kept_connection_and_send_the_body() -> None:
    fake = FakeInflux([NO_CONTENT])
    url = await fake.start()
    writer = LineWriter(url)
    try:
        for i in range(3):
            assert await writer.post("/write?db=d", f"m v={i} 1".encode()) == (204, b"")
        assert fake.connections == 1
        assert [b for _, b in fake.requests] == [b"m v=0 1", b"m v=1 1", b"m v=2 1"]
        head = fake.requests[0][0].decode()
        assert head.startswith("POST /write?db=d HTTP/1.1\r\n")
        assert "Content-Length: 7\r\n" in head
    finally:
        await writer.close()
        await fake.stop()


async def test_a_kept_connection_the_server_closed_is_replaced_once() -> None:
    fake = FakeInflux([NO_CONTENT], close_after=1)
    url = await fake.start()
    writer = LineWriter(url)
    try:
        assert (await writer.post("/write", b"m v=1 1"))[0] == 204
        await asyncio.sleep(0.05)  # the server has closed it meanwhile
        assert (await writer.post("/write", b"m v=2 2"))[0] == 204
        assert [b for _, b in fake.requests] == [b"m v=1 1", b"m v=2 2"]
        assert fake.connections == 2
    finally:
        await writer.close()
        await fake.stop()


async def test_connection_close_and_chunked_error_bodies_are_read() -> None:
    chunked = (
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b'10\r\n{"error":"timeou\r\n9\r\nt, busy"}\r\n0\r\n\r\n'
    )
    fake = FakeInflux([chunked, NO_CONTENT])
    url = await fake.start()
    store = InfluxStore(url, database="d", username="writer", password="pw")
    store._client = __import__("httpx").AsyncClient(base_url=url)  # open() would query
    try:
        points = [Point("vehicle", "truck-1", "533103", "", 1_000, {"lat": 24.4})]
        with pytest.raises(TimeSeriesError) as err:
            await store.write(points)
        assert err.value.retryable and err.value.status == 500
        assert "timeout, busy" in str(err.value)
        await store.write(points)  # a new connection: the server closed the first
        assert fake.connections == 2
        head = fake.requests[1][0].decode()
        assert head.startswith("POST /write?db=d&rp=raw&precision=ms HTTP/1.1\r\n")
        token = base64.b64encode(b"writer:pw").decode()
        assert f"Authorization: Basic {token}\r\n" in head
        assert fake.requests[1][1] == b"vehicle,county=533103,device=truck-1 lat=24.4 1000"
    finally:
        await store.close()
        await fake.stop()


async def test_the_url_path_prefixes_the_target_and_no_server_is_a_transport_error() -> None:
    fake = FakeInflux([NO_CONTENT])
    url = await fake.start()
    writer = LineWriter(url + "/influx/")
    try:
        await writer.post("/write?db=d", b"m v=1 1")
        assert fake.requests[0][0].startswith(b"POST /influx/write?db=d HTTP/1.1\r\n")
    finally:
        await writer.close()
        await fake.stop()
    gone = LineWriter(url, timeout_s=1)
    with pytest.raises(WriteTransportError, match="cannot connect"):
        await gone.post("/write", b"m v=1 1")
    await gone.close()
    with pytest.raises(ValueError, match="http"):
        LineWriter("influx.example:8086")
