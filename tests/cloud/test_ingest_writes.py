"""The write path: coalescing to ~5,000-line writes with bounded concurrency,
retries with backoff on 5xx and timeouts, and partial-write bisection against the
real InfluxDB so that exactly the refused points are dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.deadletter import payload_of
from cloud.ingest.pipeline import Ingest
from cloud.ingest.storage import DeadLetter
from cloud.ingest.writer import PointWriter
from cloud.timeseries import Point, PointBlock, TimeSeriesError
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.sqlite import SqliteStore
from protocol.codec import decode, encode
from protocol.messages import DataBatch, Series, WriteAck
from tests.support.data import batch, batch_bytes, now_ms
from tests.support.schema import migrate_async

GW = "mangshi-coop-01"
TOPIC = f"dh/v1/533103/{GW}/data"


async def _db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        s.add(Gateway(id=GW, county="533103", name=GW, site="coop", mqtt_password_hash="x"))
    return db


class Recorder:
    def __init__(self) -> None:
        self.acks: list[WriteAck] = []

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.acks.append(decode(WriteAck, payload))


@contextlib.asynccontextmanager
async def running(ingest: Ingest) -> AsyncIterator[Ingest]:
    task = asyncio.create_task(ingest.run_writer())
    try:
        yield ingest
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class GatedStore(SqliteStore):
    """Records write sizes and the most concurrent writes; writes wait for ``gate``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sizes: list[int] = []
        self.active = 0
        self.most_active = 0
        self.gate = asyncio.Event()

    async def write(self, points: Sequence[Point]) -> None:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await self.gate.wait()
            await asyncio.sleep(0.01)
            self.sizes.append(len(points))
            await super().write(points)
        finally:
            self.active -= 1


async def test_writes_are_coalesced_and_concurrency_is_bounded(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    store = GatedStore(tmp_path / "ts.db")
    await store.open()
    ingest = Ingest(db, store, Recorder(), write_points=5000, write_concurrency=3, linger_s=0.2)
    t0 = now_ms() - 5 * 3_600_000
    async with running(ingest):
        for i in range(200):  # 200 batches x 60 points = 12,000 points
            await ingest.handle(TOPIC, batch_bytes(GW, i, t0=t0 + i * 60_000, room=f"r{i % 7}"))
        await asyncio.sleep(0.3)
        store.gate.set()
        await asyncio.wait_for(ingest.drained(), 30)
    assert sum(store.sizes) == 12_000
    assert store.most_active <= 3
    assert max(store.sizes) <= 5000 + 60  # a group stops growing once it reaches 5,000
    assert max(store.sizes) >= 4000  # and it does grow: large writes, not one per batch
    await store.close()
    await db.dispose()


async def _http_server(responses: list[bytes | None]) -> tuple[asyncio.Server, int, list[int]]:
    """A fake InfluxDB answering /write with the given raw responses in turn
    (None: never answer, so the client times out)."""
    hits: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        hits.append(1)
        response = responses[min(len(hits) - 1, len(responses) - 1)]
        if response is None:
            await asyncio.sleep(30)
        else:
            writer.write(response)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], hits


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BODY = b'{"error":"overloaded"}'
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _BODY
)


async def test_retries_back_off_on_5xx_and_timeouts() -> None:
    server, port, hits = await _http_server([UNAVAILABLE, None, UNAVAILABLE, NO_CONTENT])
    store = InfluxStore(f"http://127.0.0.1:{port}", timeout_s=0.5)
    store._client = httpx.AsyncClient(base_url=store.url, timeout=0.5)  # open() would query
    retried: list[TimeSeriesError] = []
    writer = PointWriter(store, retry_min_s=0.05, retry_max_s=0.2, on_retry=retried.append)
    block = PointBlock("cold_room", "d", "533103", "s", [1], {"t": [1.0]})
    assert await writer.write([block]) == []
    assert len(hits) == 4
    assert len(retried) == 3 and all(e.retryable for e in retried)
    assert any("503" in str(e) for e in retried)
    assert any("Timeout" in str(e) for e in retried)
    await store.close()
    server.close()


@pytest.mark.influx
async def test_partial_write_is_bisected_to_exactly_the_refused_points(
    tmp_path: Path, influx_store: InfluxStore
) -> None:
    db = await _db(tmp_path)
    acks = Recorder()
    t0 = (now_ms() - 3_600_000) // 1000 * 1000
    # "valve" exists as an integer field in this shard: a float "valve" is a type conflict.
    await influx_store.write_lines(
        f"cold_room,county=533103,device=other,site=s valve=1i {t0 - 1000}"
    )
    bad_at = {5, 17, 42}
    series = Series(
        device=f"{GW}.room-1",
        t0=t0,
        n=60,
        dt=1000,
        values={
            "temperature": [4.0 + i / 100 for i in range(60)],
            "valve": [1.0 if i in bad_at else None for i in range(60)],
        },
    )
    ingest = Ingest(db, influx_store, acks, linger_s=0.01)
    async with running(ingest):
        assert await ingest.handle(TOPIC, encode(batch(GW, 1, series))) is None
        await asyncio.wait_for(ingest.drained(), 30)
    assert await influx_store.count("cold_room", f"{GW}.room-1") == 57
    async with db.session() as s:
        dead = list((await s.execute(select(DeadLetter).order_by(DeadLetter.id))).scalars())
        payloads = [await payload_of(s, d) for d in dead]
    assert len(dead) == 3
    assert {d.code for d in dead} == {"store_refused"}
    assert all("field type conflict" in d.reason for d in dead), dead[0].reason
    refused_ts = sorted(decode(DataBatch, p).series[0].t0 for p in payloads)
    assert refused_ts == [t0 + i * 1000 for i in sorted(bad_at)]
    (ack,) = acks.acks
    (entry,) = ack.acks
    assert entry.status == "partial" and entry.stored == 57 and entry.rejected == 6
    await db.dispose()
