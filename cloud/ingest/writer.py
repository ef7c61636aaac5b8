"""Writing points to the time-series store: retries with backoff, and bisection.

:meth:`PointWriter.write` either stores every point it was given or returns the
points the store refused *for their content*, each with the store's reason.

- An outage (connection refused, timeout, 5xx, 429) is retried with jittered
  exponential backoff, forever: the caller holds the batches, the gateways hold
  them too (nothing is acknowledged), and the write goes through when the store
  is back.
- A refusal for content (InfluxDB answers 400: a field type conflict, a point
  outside retention, ...) is bisected. InfluxDB 1.x names only the first rejected
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

from cloud.timeseries import Point, TimeSeriesError, TimeSeriesStore
from protocol.backoff import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refused:
    point: Point
    reason: str


class PointWriter:
    def __init__(
        self,
        store: TimeSeriesStore,
        *,
        retry_min_s: float = 0.2,
        retry_max_s: float = 10.0,
        on_latency: Callable[[float], None] | None = None,
        on_retry: Callable[[TimeSeriesError], None] | None = None,
    ) -> None:
        self.store = store
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.on_latency = on_latency
        self.on_retry = on_retry

    async def write(self, points: Sequence[Point]) -> list[Refused]:
        """Store ``points``; return the ones refused for their content (usually none)."""
        if not points:
            return []
        try:
            await self._write_retrying(points)
        except TimeSeriesError as exc:
            if len(points) == 1:
                return [Refused(points[0], str(exc))]
            half = len(points) // 2
            return await self.write(points[:half]) + await self.write(points[half:])
        return []

    async def _write_retrying(self, points: Sequence[Point]) -> None:
        """One request, retried while the store is unavailable; raises on a content refusal."""
        backoff = Backoff(self.retry_min_s, self.retry_max_s)
        while True:
            started = time.perf_counter()
            try:
                await self.store.write(points)
            except TimeSeriesError as exc:
                if not exc.retryable:
                    raise
                if self.on_retry is not None:
                    self.on_retry(exc)
                delay = backoff.next()
                log.warning("time-series store unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if self.on_latency is not None:
                self.on_latency(time.perf_counter() - started)
            return
