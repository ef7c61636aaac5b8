"""Marking the windows a process's fixes touch, without a relational transaction per
fix (:mod:`.dirty` has the table and the consumers' side).

Around each time-series write of fixes:

1. :meth:`WindowMarks.before_write`: windows this process holds no mark of are
   marked (one transaction), before the write: a crash after it costs one needless
   recompute, never a missed one.
2. the write.
3. :meth:`WindowMarks.after_write`: the windows it did hold a mark of are checked,
   in one read shared by the writes that finished meanwhile
   (:func:`.dirty.still_marked`, on a pooled connection in autocommit), and
   those claimed or completed since are marked again; only then is the fix
   answered.

Why a fix is never missed: a consumer reads the time series only after its claim
is committed. A claim the read of step 3 did not see was committed after that read
began, so after the write: the consumer reads the fix. A claim it saw is followed
by a new mark (a new generation), so its completion releases the window, still
marked. Windows claimed but whose lease ran out count as claimed.

What a crash can still cost: a process that dies between step 2 and step 3 of a
held window claimed just before the write leaves that fix unmarked; it was never
answered, so the phone sends it again, and the resend (a duplicate then) is
treated as touching its window (:class:`.intake.PositionIntake`), which marks it.
"""

from __future__ import annotations

from collections.abc import Collection

from cloud.db import Database
from cloud.logistics.positions import dirty
from cloud.logistics.positions.groupcommit import GroupCommit

#: (vehicle, county, window start ms)
WindowKey = tuple[str, str, int]
#: Most windows remembered as held (then forgotten all at once: each is marked once more).
MAX_HELD = 100_000


class WindowMarks:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._held: dict[WindowKey, None] = {}
        self._checks: GroupCommit[frozenset[WindowKey]] = GroupCommit(self._check)
        #: marks before writes, windows checked after, marks after (claimed since)
        self.marked_before = self.checked_after = self.marked_after = 0

    def holds(self, window: WindowKey) -> bool:
        return window in self._held

    async def before_write(self, windows: Collection[WindowKey]) -> frozenset[WindowKey]:
        """Mark the windows not held; returns those held (to pass to after_write)."""
        fresh = [w for w in windows if w not in self._held]
        if fresh:
            async with self.db.transaction() as s:
                await dirty.mark(s, fresh)
            self.marked_before += len(fresh)
        return frozenset(w for w in windows if w in self._held)

    async def after_write(self, windows: Collection[WindowKey], held: frozenset[WindowKey]) -> None:
        """After the write of fixes in ``windows``: check the ``held`` ones (marked
        again if claimed since); all of them are held from now on."""
        if held:
            await self._checks.submit(held)
        self._hold(windows)

    async def checked(
        self,
        windows: Collection[WindowKey],
        held: frozenset[WindowKey],
        still: Collection[WindowKey],
    ) -> None:
        """:meth:`after_write`, when the caller read the check of ``held`` itself (after
        the write; ``still``: those still marked and unclaimed, :func:`.dirty.still_marked`),
        e.g. in one statement with other work (:mod:`.afterwrite`)."""
        if held:
            self.checked_after += len(held)
            await self._remark(held - frozenset(still))
        self._hold(windows)

    def _hold(self, windows: Collection[WindowKey]) -> None:
        """All of ``windows`` are held from now on (the set bounded by ``MAX_HELD``)."""
        if len(self._held) > MAX_HELD:
            self._held.clear()
        self._held.update(dict.fromkeys(windows))

    async def _check(self, jobs: list[frozenset[WindowKey]]) -> None:
        windows = frozenset().union(*jobs)
        self.checked_after += len(windows)
        async with self.db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            ok = await dirty.still_marked(auto, windows)
        await self._remark(windows - ok)

    async def _remark(self, lost: frozenset[WindowKey]) -> None:
        if lost:  # claimed or completed since this process marked them
            for w in lost:
                self._held.pop(w, None)
            async with self.db.transaction() as s:
                await dirty.mark(s, lost)
            self.marked_after += len(lost)

    async def close(self) -> None:
        await self._checks.close()
