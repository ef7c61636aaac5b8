"""Per-tracker counts (accepted, and filtered by reason), kept in memory and added to
``logistics_tracker_counts`` every ``counts_flush_s`` seconds and at shutdown.

Counts are statistics: a single fix must not pay a relational transaction for them.
Each process adds its own (an upsert adding to the stored count), so several
processes may serve fixes. A crash loses at most the counts of the last
``counts_flush_s`` seconds of that process (and those held while the database was
unreachable: a failed flush keeps them for the next). :meth:`pending` gives the
counts not flushed yet, which the API process adds to what it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping

from cloud.db import Database, utcnow
from cloud.db.upsert import dialect_insert
from cloud.logistics.positions.storage import TrackerCount

log = logging.getLogger(__name__)


class CountBuffer:
    def __init__(self, db: Database, flush_s: float) -> None:
        self.db = db
        self.flush_s = flush_s
        self._pending: Counter[tuple[int, str]] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        #: set after each flush that stored something
        self.flushed = asyncio.Event()

    def add(self, tracker_id: int, counts: Mapping[str, int]) -> None:
        for outcome, n in counts.items():
            if n:
                self._pending[(tracker_id, outcome)] += n
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._timer())

    def pending(self, tracker_id: int) -> dict[str, int]:
        """This process's counts of ``tracker_id`` not flushed yet."""
        return {o: n for (t, o), n in self._pending.items() if t == tracker_id}

    async def _timer(self) -> None:
        await asyncio.sleep(self.flush_s)
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - kept for the next flush; logged
            log.warning("tracker counts not flushed (kept for the next try): %r", exc)
        if self._pending:
            self._task = asyncio.get_running_loop().create_task(self._timer())

    async def flush(self) -> None:
        """Add the pending counts to the stored ones (kept pending if that fails)."""
        async with self._lock:
            taken, self._pending = self._pending, Counter()
            if not taken:
                return
            try:
                now = utcnow()
                rows = [
                    {"tracker_id": t, "outcome": o, "count": n, "last_at": now}
                    for (t, o), n in sorted(taken.items())
                ]
                async with self.db.transaction() as s:
                    ins = dialect_insert(s, TrackerCount).values(rows)
                    await s.execute(
                        ins.on_conflict_do_update(
                            index_elements=["tracker_id", "outcome"],
                            set_={
                                "count": TrackerCount.count + ins.excluded.count,
                                "last_at": ins.excluded.last_at,
                            },
                        )
                    )
            except BaseException:
                self._pending.update(taken)
                raise
            self.flushed.set()

    async def close(self) -> None:
        """Stop the timer and flush what is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
