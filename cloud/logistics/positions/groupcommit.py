"""Group commit: concurrent callers' jobs are flushed together; each caller returns
when the flush holding its job is done (or raises its error).

Up to ``concurrency`` flushes run at once: jobs that arrive while that many are in
flight wait and are flushed together when one ends. With one, a flush waits for the
one before it (the largest groups); with more, a request waits less behind a
flush it missed (the latency of a single fix is about one flush, not one and a
half).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

J = TypeVar("J")


class GroupCommit(Generic[J]):
    def __init__(
        self, flush: Callable[[list[J]], Awaitable[None]], *, concurrency: int = 1
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._flush = flush
        self._concurrency = concurrency
        self._pending: list[tuple[J, asyncio.Future[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduled = False

    async def submit(self, job: J) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((job, fut))
        if not self._scheduled:
            # start at the loop's next turn: the requests read in this one join the group
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start)
        await fut

    def _start(self) -> None:
        self._scheduled = False
        while self._pending and len(self._tasks) < self._concurrency:
            batch, self._pending = self._pending, []
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._start()

    async def _run(self, batch: list[tuple[J, asyncio.Future[None]]]) -> None:
        try:
            await self._flush([job for job, _ in batch])
        except asyncio.CancelledError:  # close(): the waiting callers are cancelled too
            for _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)

    async def close(self) -> None:
        """Cancel the flushes in flight (their callers get the cancellation)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
