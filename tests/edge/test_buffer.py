"""The durable buffer: settings, group commit, ack-only deletion, resend, bounds, drain order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.buffer import Buffer
from edge.clock import Clock
from edge.config import BufferConfig
from edge.drivers.base import Sample
from edge.state import StateStore
from edge.store import Store
from protocol.codec import decode
from protocol.messages import DataBatch, EventMessage, EventType
from protocol.quality import Quality

T0 = (int(time.time()) // 60) * 60_000 - 600_000  # ten minutes ago, whole minute


class Mono:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sample(i: int, device: str = "gw-1.room-0", metrics: int = 4) -> Sample:
    return Sample(
        device=device,
        ts_ms=T0 + i * 1000,
        values={f"m{k}": float(i + k) for k in range(metrics)},
    )


def make_buffer(tmp_path: Path, **kw: Any) -> Buffer:
    cfg = BufferConfig.model_validate(kw.pop("config", {}))
    return Buffer(tmp_path / "buffer.db", "gw-1", StateStore(tmp_path), cfg, **kw)


@pytest.fixture
async def buf(tmp_path: Path) -> AsyncIterator[Buffer]:
    b = make_buffer(tmp_path)
    await b.open()
    try:
        yield b
    finally:
        await b.close()


async def test_wal_and_synchronous_full(buf: Buffer) -> None:
    assert buf._store is not None
    assert buf._store.pragma("journal_mode") == "wal"
    assert buf._store.pragma("synchronous") == 2  # FULL


async def test_a_reading_is_taken_only_after_its_group_commit(buf: Buffer) -> None:
    taken: list[int] = []
    buf.on_taken = lambda samples: taken.extend(s.ts_ms for s in samples)
    for i in range(50):
        buf.put_sample(sample(i))
    assert buf.counters.taken == 0  # handed over, not yet fsynced
    await asyncio.sleep(0.3)  # commit_interval_ms = 100 without any flush
    assert buf.counters.taken == 200 and len(taken) == 50
    assert buf.counters.commits == 1  # one group commit, one fsync
    assert max(buf.commit_latency_ms) <= 250
    assert buf._store is not None
    assert buf._store.counts()["samples"] == 50


async def test_cut_stores_a_batch_and_only_a_write_ack_deletes_it(tmp_path: Path) -> None:
    b = make_buffer(tmp_path)
    await b.open()
    for i in range(10):
        b.put_sample(sample(i))
    await b.flush()
    b.cut()
    await b.flush()
    assert len(b) == 1 and b.pending_readings == 40
    (item,) = await b.due()
    batch = decode(DataBatch, item.payload)
    assert batch.reading_count() == 40 and batch.series[0].n == 10
    assert b._store is not None and b._store.counts()["samples"] == 0  # moved, same transaction
    for i in range(10, 13):
        b.put_sample(sample(i))  # not batched yet
    await b.close()

    again = make_buffer(tmp_path)  # restart: batch and unbatched samples come back
    await again.open()
    assert again.ids() == [batch.id]
    assert again.batcher.buffered == 12  # 3 samples x 4 metrics
    assert again.ack([batch.id, "unknown"])[0].id == batch.id
    await again.flush()
    await again.close()
    third = make_buffer(tmp_path)
    await third.open()
    assert len(third) == 0
    await third.close()


async def test_resend_after_the_ack_timeout_and_after_reconnect(tmp_path: Path) -> None:
    mono = Mono()
    b = make_buffer(tmp_path, ack_timeout_s=30, monotonic=mono)
    await b.open()
    try:
        b.put_sample(sample(0))
        await b.flush()
        b.cut()
        await b.flush()
        (item,) = await b.wait_due()
        payload = item.payload
        b.mark_sent(item)
        assert await b.due() == []
        mono.now += 30
        (again,) = await b.due()
        assert again.payload == payload  # byte-identical resend, read back from the file
        b.mark_sent(again)
        b.reset_sent()
        assert [i.id for i in await b.due()] == [item.id]
    finally:
        await b.close()


async def test_live_data_first_and_the_backlog_under_the_token_bucket(tmp_path: Path) -> None:
    mono = Mono()
    b = make_buffer(
        tmp_path,
        monotonic=mono,
        config={"drain_readings_per_s": 40, "drain_burst": 40, "max_inflight": 100},
    )
    await b.open()
    try:
        for k in range(5):  # an outage: five batches of 40 readings
            for i in range(10):
                b.put_sample(sample(k * 10 + i))
            await b.flush()
            b.cut()
            await b.flush()
        backlog = b.ids()
        b.reset_sent()  # reconnected: all of that is backlog now
        b.put_sample(sample(100))
        await b.flush()
        b.cut()
        await b.flush()
        live_id = b.ids()[-1]
        first = await b.wait_due()
        # live first, then as much backlog as one bucket (40 readings) allows
        assert [i.id for i in first] == [live_id, backlog[0]]
        for item in first:
            b.mark_sent(item)
        waiter = asyncio.create_task(b.wait_due())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # the bucket is empty: it waits, it does not spin
        mono.now += 1.0  # one second refills 40 readings
        b._changed.set()
        assert [i.id for i in await asyncio.wait_for(waiter, 2)] == [backlog[1]]
    finally:
        await b.close()


async def event(b: Buffer, i: int) -> None:
    b.put_event(
        EventMessage(gw="gw-1", id=f"alarm-{i}", ts=T0, type=EventType.ALARM, message="hot")
    )


async def store_batch(b: Buffer, k: int) -> None:
    """200 seconds of an 8-metric device, taken and cut into one stored batch."""
    for i in range(200):
        b.put_sample(sample(k * 200 + i, metrics=8))
    await b.flush()
    b.cut()
    await b.flush()


async def test_full_buffer_thins_before_it_drops_and_never_drops_events(tmp_path: Path) -> None:
    b = make_buffer(tmp_path, config={"max_bytes": 64 * 1024, "thin_keep_every": 4})
    await b.open()
    try:
        await event(b, 0)
        seq = 0
        while b.counters.thinned_batches == 0:
            await store_batch(b, seq)
            seq += 1
        assert b.counters.dropped == 0  # thinned first
        assert b.pending_bytes <= 64 * 1024
        thinned = [i for i in b._items.values() if i.thinned]
        (first, *_) = await b._load([thinned[0]])
        batch = decode(DataBatch, first.payload)
        series = batch.series[0]
        assert series.n == 50 and series.dt == 4000  # every 4th second kept
        assert all(flags & Quality.THINNED for _, flags in series.quality["m0"])
        while b.counters.dropped == 0:
            await store_batch(b, seq)
            seq += 1
        assert b.pending_bytes <= 64 * 1024
        assert all(i.thinned for i in list(b._items.values())[:-1])
        await b.flush()
        kinds = [e.payload for e in b._events.values()]
        assert any(b'"action":"thin"' in p for p in kinds)
        assert any(b'"action":"drop"' in p for p in kinds)
        assert "alarm-0" in b._events  # events are never dropped
        assert b.counters.thinned > 0 and b.counters.dropped_batches >= 1
    finally:
        await b.close()


async def test_readings_past_the_age_bound_are_dropped_and_reported(tmp_path: Path) -> None:
    b = make_buffer(tmp_path, config={"max_age_s": 3600})
    await b.open()
    try:
        b.put_sample(sample(0))  # T0 is in 2026; the clock says now
        old = Sample(device="gw-1.room-0", ts_ms=b.clock.wall_ms() - 7200_000, values={"t": 1.0})
        b.put_sample(old)
        await b.flush()
        b.cut()
        await b.flush()
        await b.flush()
        assert len(b) == 0 and b.counters.dropped == 5
        assert any(b'"action":"drop"' in e.payload for e in b._events.values())
    finally:
        await b.close()


class FakeTime:
    def __init__(self, wall: int, mono: int) -> None:
        self.wall = wall
        self.mono = mono
        self.synced = False


async def test_untrusted_clock_holds_then_recomputes_and_flags(tmp_path: Path) -> None:
    real = 1_790_000_000_000
    t = FakeTime(wall=1_700_000_000_000, mono=5_000)  # booted at the wrong (saved) time
    clock = Clock(
        "synced",
        wall_ms=lambda: t.wall,
        mono_ms=lambda: t.mono,
        synced=lambda: t.synced,
        boot="boot-a",
    )
    b = make_buffer(tmp_path, clock=clock)
    await b.open()
    try:
        assert clock.state() == "unknown"
        await b.flush()  # a round to take the clock state
        b.put_sample(Sample(device="gw-1.room-0", ts_ms=t.wall, values={"t": 4.0}))
        await b.flush()
        assert b.counters.held == 1 and b.batcher.buffered == 0
        t.mono += 10_000  # ten seconds later NTP sets the clock
        t.wall, t.synced = real, True
        await b.flush()
        assert b.counters.held == 0 and b.counters.released == 1
        b.cut()
        await b.flush()
        (item,) = await b.due()
        series = decode(DataBatch, item.payload).series[0]
        assert series.t0 == real - 10_000  # recomputed from the monotonic time
        assert series.quality["t"] == [(0, int(Quality.CLOCK_SUSPECT))]
        assert b._store is not None and b._store.meta()["last_good_ms"] >= real
    finally:
        await b.close()


async def test_held_readings_of_an_earlier_boot_are_sent_flagged(tmp_path: Path) -> None:
    t = FakeTime(wall=1_789_000_000_000, mono=5_000)  # 11 days behind

    def clock(boot: str) -> Clock:
        return Clock(
            "synced", wall_ms=lambda: t.wall, mono_ms=lambda: t.mono,
            synced=lambda: t.synced, boot=boot,
        )  # fmt: skip

    b = make_buffer(tmp_path, clock=clock("boot-a"))
    await b.open()
    await b.flush()
    b.put_sample(Sample(device="gw-1.room-0", ts_ms=t.wall, values={"t": 4.0}))
    await b.close()
    t.mono, t.synced, t.wall = 1_000, True, 1_790_000_000_000  # rebooted, NTP fine now
    b = make_buffer(tmp_path, clock=clock("boot-b"))
    await b.open()
    try:
        assert b.counters.held == 1
        await b.flush()
        b.cut()
        await b.flush()
        (item,) = await b.due()
        series = decode(DataBatch, item.payload).series[0]
        assert series.t0 == 1_789_000_000_000  # its recorded time: it cannot be recomputed
        assert series.quality["t"] == [(0, int(Quality.CLOCK_SUSPECT))]
    finally:
        await b.close()


def test_store_reads_what_it_wrote(tmp_path: Path) -> None:
    store = Store(tmp_path / "b.db")
    assert store.pragma("synchronous") == 2
    store.close()
