"""Load shedding for the trace page's builds: at most ``slots`` at once per API process,
at most ``queue`` waiting, each at most ``wait_s``; past that, :class:`Overloaded` (the
page answers 503 with ``Retry-After``) at once, instead of queueing for the database
pool until its 30 s timeout gives a 500 to everyone."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


class Overloaded(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"trace page overloaded; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Admission:
    def __init__(self, slots: int, queue: int, wait_s: float) -> None:
        self.slots = slots
        self.queue = queue
        self.wait_s = wait_s
        self._sem = asyncio.Semaphore(slots)
        self.waiting = 0
        self.shed = 0
        #: set when a view starts waiting for a slot (for tests and metrics)
        self.queued = asyncio.Event()

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.wait_s))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._sem.locked():
            if self.waiting >= self.queue:
                self.shed += 1
                raise Overloaded(self.retry_after_s)
            self.waiting += 1
            self.queued.set()
            try:
                async with asyncio.timeout(self.wait_s):
                    await self._sem.acquire()
            except TimeoutError:
                self.shed += 1
                raise Overloaded(self.retry_after_s) from None
            finally:
                self.waiting -= 1
        else:
            await self._sem.acquire()
        try:
            yield
        finally:
            self._sem.release()


def admission_of(state: Any, settings: Any) -> Admission:
    """The app's admission (``app.state.trace_page_admission``), made on first use."""
    adm: Admission | None = getattr(state, "trace_page_admission", None)
    if adm is None:
        adm = Admission(
            settings.trace_page_concurrency, settings.trace_page_queue, settings.trace_page_wait_s
        )
        state.trace_page_admission = adm
    return adm
