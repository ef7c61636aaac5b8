"""Sent-but-unacknowledged batches.

!!! IN MEMORY ONLY (this issue). A gateway restart or a crash LOSES every batch
!!! that the cloud has not acknowledged yet. The durable SQLite (WAL) buffer that
!!! keeps every reading through outages and reboots is the next issue; it will
!!! replace this class behind the same methods.

A batch leaves this set only when a :class:`~protocol.messages.WriteAck` names
its id. Until then it is (re)sent: first as soon as the session is connected,
then again every ``ack_timeout_s`` without an ack, and all of them at once after
a reconnect. The set is bounded: past ``max_batches`` the oldest batch is
dropped, counted, logged and reported through ``on_drop`` (the gateway turns it
into a ``buffer`` event).

Waiting is event-driven: :meth:`PendingBatches.wait_due` sleeps until the
earliest resend deadline or until something changes, never in a polling loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.aio import wait_event
from protocol.messages import DataBatch

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingBatch:
    batch: DataBatch
    payload: bytes
    #: Monotonic time of the last send; None while not sent since the last (re)connect.
    sent_at: float | None = None
    attempts: int = 0

    @property
    def id(self) -> str:
        return self.batch.id

    @property
    def seq(self) -> int:
        return self.batch.seq


class PendingBatches:
    """The in-memory pending set (see the module warning)."""

    def __init__(
        self,
        ack_timeout_s: float = 30.0,
        max_batches: int = 1000,
        on_drop: Callable[[PendingBatch], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ack_timeout_s <= 0:
            raise ValueError(f"ack_timeout_s must be positive, got {ack_timeout_s}")
        if max_batches < 1:
            raise ValueError(f"max_batches must be at least 1, got {max_batches}")
        self.ack_timeout_s = ack_timeout_s
        self.max_batches = max_batches
        self.on_drop = on_drop
        self.clock = clock
        self._items: OrderedDict[str, PendingBatch] = OrderedDict()
        self._changed = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self.dropped = 0
        self.acked = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, batch_id: object) -> bool:
        return batch_id in self._items

    def ids(self) -> list[str]:
        return list(self._items)

    def add(self, batch: DataBatch, payload: bytes) -> None:
        """Keep a new batch until acked; drop the oldest one past ``max_batches``."""
        self._items[batch.id] = PendingBatch(batch, payload)
        while len(self._items) > self.max_batches:
            _, oldest = self._items.popitem(last=False)
            self.dropped += 1
            log.error(
                "pending buffer full (%d batches): dropped batch %s seq %d with %d readings "
                "that the cloud never acknowledged; raise batch.max_pending or fix the uplink",
                self.max_batches,
                oldest.id,
                oldest.seq,
                oldest.batch.reading_count(),
            )
            if self.on_drop is not None:
                self.on_drop(oldest)
        self._empty.clear()
        self._changed.set()

    def ack(self, batch_ids: Iterable[str]) -> list[PendingBatch]:
        """Forget the batches a write-ack names; return those that were pending."""
        removed = []
        for batch_id in batch_ids:
            item = self._items.pop(batch_id, None)
            if item is not None:
                removed.append(item)
        self.acked += len(removed)
        if removed:
            self._changed.set()
        if not self._items:
            self._empty.set()
        return removed

    async def wait_empty(self, within_s: float | None = None) -> bool:
        """Wait until every batch is acknowledged; False if ``within_s`` passed first."""
        return await wait_event(self._empty, within_s)

    def mark_sent(self, item: PendingBatch) -> None:
        item.sent_at = self.clock()
        item.attempts += 1

    def reset_sent(self) -> None:
        """After a reconnect: everything pending is due again (resend all)."""
        for item in self._items.values():
            item.sent_at = None
        self._changed.set()

    def due(self) -> list[PendingBatch]:
        """Batches to send now, oldest first: never sent, or unacked past the timeout."""
        now = self.clock()
        return [
            item
            for item in self._items.values()
            if item.sent_at is None or now - item.sent_at >= self.ack_timeout_s
        ]

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest resend, None when nothing is pending."""
        deadlines = [
            (item.sent_at + self.ack_timeout_s) if item.sent_at is not None else self.clock()
            for item in self._items.values()
        ]
        return min(deadlines) if deadlines else None

    async def wait_due(self) -> list[PendingBatch]:
        """Wait until some batch is due (new, or past its ack timeout), return them."""
        while True:
            self._changed.clear()
            items = self.due()
            if items:
                return items
            deadline = self.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            # wakes on a change (add, ack, reconnect) or when the earliest resend is due
            await wait_event(self._changed, timeout)
