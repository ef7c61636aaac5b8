"""Writing points to the time-series store: retries with backoff, and bisection.

:meth:`PointWriter.write` either stores every point it was given (in columns,
:class:`~cloud.timeseries.PointBlock`) or returns the points the store refused *for
their content*, each with the store's reason and its position among the points given.

- An outage (connection refused, timeout, 5xx, 429, and every refusal that is not
  about the data: 401/403 credentials, 404 database not found) is retried with
  jittered exponential backoff, forever: the caller holds the batches, the gateways
  hold them too (nothing is acknowledged), and the write goes through when the
  store is back. ``on_retry`` and ``on_success`` let the caller raise and clear an
  alert.
- A refusal for content (InfluxDB answers 400 naming the data: a field type
  conflict, an unparsable line, a point outside retention, ...) is bisected. InfluxDB 1.x names only the first rejected
  point of a partial write and writes the rest, so the writer splits the group
  in halves and writes each again (writes are idempotent) until the refused
  points stand alone: exactly those are returned, with InfluxDB's reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cloud.timeseries import Point, PointBlock, TimeSeriesError, TimeSeriesStore
from protocol.backoff import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refused:
    point: Point
    reason: str
    #: the point's position among all the points given to :meth:`PointWriter.write`
    index: int


class PointWriter:
    def __init__(
        self,
        store: TimeSeriesStore,
        *,
        retry_min_s: float = 0.2,
        retry_max_s: float = 10.0,
        on_latency: Callable[[float], None] | None = None,
        on_retry: Callable[[TimeSeriesError], None] | None = None,
        on_success: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.on_latency = on_latency
        self.on_retry = on_retry
        self.on_success = on_success

    async def write(self, blocks: Sequence[PointBlock]) -> list[Refused]:
        """Store the blocks' points; return the ones refused for their content (usually
        none)."""
        return await self._write(blocks, sum(map(len, blocks)), 0)

    async def _write(self, blocks: Sequence[PointBlock], count: int, offset: int) -> list[Refused]:
        if not count:
            return []
        try:
            await self._write_retrying(blocks)
        except TimeSeriesError as exc:
            if count == 1:
                (block,) = (b for b in blocks if len(b))
                return [Refused(block.point(0), str(exc), offset)]
            half = count // 2
            left, right = split(blocks, half)
            return await self._write(left, half, offset) + await self._write(
                right, count - half, offset + half
            )
        return []

    async def _write_retrying(self, blocks: Sequence[PointBlock]) -> None:
        """One request, retried while the store is unavailable; raises on a content refusal."""
        backoff = Backoff(self.retry_min_s, self.retry_max_s)
        while True:
            started = time.perf_counter()
            try:
                await self.store.write_blocks(blocks)
            except TimeSeriesError as exc:
                if not exc.retryable:
                    if self.on_success is not None:
                        self.on_success()  # the store answered: it is up, the data is not
                    raise
                if self.on_retry is not None:
                    self.on_retry(exc)
                delay = backoff.next()
                log.warning("time-series store unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if self.on_latency is not None:
                self.on_latency(time.perf_counter() - started)
            if self.on_success is not None:
                self.on_success()
            return


def split(blocks: Sequence[PointBlock], at: int) -> tuple[list[PointBlock], list[PointBlock]]:
    """The first ``at`` points, and the rest (a block straddling the cut is sliced)."""
    left: list[PointBlock] = []
    right: list[PointBlock] = []
    for b in blocks:
        n = len(b)
        if at >= n:
            left.append(b)
        elif at <= 0:
            right.append(b)
        else:
            left.append(b.slice(0, at))
            right.append(b.slice(at, n))
        at -= n
    return left, right
