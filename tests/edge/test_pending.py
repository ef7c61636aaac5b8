"""The in-memory pending set: ack removes, timeouts resend, bounded with counted drops."""

from __future__ import annotations

import asyncio

from edge.pending import PendingBatch, PendingBatches
from protocol.messages import DataBatch, Series


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def batch(seq: int) -> DataBatch:
    return DataBatch(
        gw="gw-1",
        seq=seq,
        id=f"batch-{seq:08d}",
        series=[Series(device="gw-1.room-0", t0=1_760_000_000_000, n=1, values={"t": [1.0]})],
    )


def test_only_a_write_ack_removes_a_batch() -> None:
    pending = PendingBatches(ack_timeout_s=30)
    for seq in range(3):
        pending.add(batch(seq), b"{}")
    assert len(pending) == 3
    removed = pending.ack(["batch-00000001", "unknown-batch-id"])
    assert [r.seq for r in removed] == [1]
    assert pending.ids() == ["batch-00000000", "batch-00000002"]
    assert pending.acked == 1


def test_resend_after_the_ack_timeout_and_after_reconnect() -> None:
    clock = Clock()
    pending = PendingBatches(ack_timeout_s=30, clock=clock)
    pending.add(batch(0), b"{}")
    (item,) = pending.due()
    pending.mark_sent(item)
    assert pending.due() == []
    assert pending.next_deadline() == 1030.0
    clock.now += 29.9
    assert pending.due() == []
    clock.now += 0.1
    assert pending.due() == [item]
    pending.mark_sent(item)
    assert pending.due() == [] and item.attempts == 2
    pending.reset_sent()  # reconnected: everything goes again
    assert pending.due() == [item]


def test_bounded_oldest_dropped_counted_and_reported() -> None:
    dropped: list[PendingBatch] = []
    pending = PendingBatches(max_batches=2, on_drop=dropped.append)
    for seq in range(4):
        pending.add(batch(seq), b"{}")
    assert pending.ids() == ["batch-00000002", "batch-00000003"]
    assert [d.seq for d in dropped] == [0, 1]
    assert pending.dropped == 2


async def test_wait_due_wakes_on_add_and_on_timeout() -> None:
    pending = PendingBatches(ack_timeout_s=0.2)
    waiter = asyncio.create_task(pending.wait_due())
    await asyncio.sleep(0.05)
    assert not waiter.done()  # nothing pending: it sleeps, it does not spin
    pending.add(batch(0), b"{}")
    (item,) = await asyncio.wait_for(waiter, 1)
    pending.mark_sent(item)
    loop = asyncio.get_running_loop()
    started = loop.time()
    (again,) = await asyncio.wait_for(pending.wait_due(), 2)
    assert again is item
    assert loop.time() - started >= 0.15
    pending.ack([item.id])
    waiter = asyncio.create_task(pending.wait_due())
    await asyncio.sleep(0.3)
    assert not waiter.done()
    waiter.cancel()
