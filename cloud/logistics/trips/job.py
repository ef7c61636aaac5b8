"""The recompute job: trips, stops and geofence events follow the fixes, by fix time.

Positions mark each hour a fix lands in for the ``trips`` consumer
(:mod:`cloud.logistics.positions.dirty`); a pass claims up to ``batch`` of those windows,
joins each vehicle's adjacent hours into one span, runs :func:`recompute_window` over
it with the time-series fixes loader (one transaction per span), and completes the
windows of the spans that succeeded. A span that fails is logged with its vehicle and
window and left marked: its claim's lease runs out (``lease_s``) and a later pass tries
it again. A window marked again while it was being recomputed stays marked
(``dirty.complete``).

:class:`RecomputeJob` runs a pass every ``interval_s`` (sooner after :meth:`wake`, and at
once again while a pass found a full batch), never in a busy loop. ``dehong cloud serve``
runs it in the API's lifespan (``DEHONG_TRIPS_RECOMPUTE_INTERVAL_S``; 0 turns it off);
``dehong logistics recompute [--once]`` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.db import Database
from cloud.logistics.positions import dirty
from cloud.logistics.trips.fixes import FixesLoader, timeseries_fixes_loader
from cloud.logistics.trips.recompute import recompute_window
from cloud.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

CONSUMER = "trips"


class RecomputeSettings(BaseSettings):
    """``DEHONG_TRIPS_RECOMPUTE_*``: the job in ``dehong cloud serve``."""

    model_config = SettingsConfigDict(
        env_prefix="DEHONG_TRIPS_RECOMPUTE_", env_file=".env", extra="ignore"
    )

    #: Seconds between passes in the API's lifespan (0: the API does not run the job).
    interval_s: float = Field(default=30.0, ge=0)
    #: Windows (vehicle-hours) claimed per pass.
    batch: int = Field(default=200, ge=1)
    #: A claim's lease: a failed or abandoned window is tried again after it, s.
    lease_s: float = Field(default=300.0, gt=0)


@dataclass
class PassResult:
    """What one pass did: windows claimed, spans recomputed and failed, windows completed."""

    claimed: int = 0
    spans: int = 0
    failed: int = 0
    completed: int = 0
    new_enters: int = 0


@dataclass
class JobStats:
    passes: int = 0
    windows: int = 0
    failures: int = 0
    last: PassResult = field(default_factory=PassResult)


def spans_of(windows: list[dirty.Window]) -> list[list[dirty.Window]]:
    """Each vehicle's windows grouped into runs of adjacent hours (one recompute each)."""
    by_vehicle: dict[tuple[str, str], list[dirty.Window]] = {}
    for w in windows:
        by_vehicle.setdefault((w.device, w.county), []).append(w)
    out: list[list[dirty.Window]] = []
    for ws in by_vehicle.values():
        ws.sort(key=lambda w: w.start_ms)
        run = [ws[0]]
        for w in ws[1:]:
            if w.start_ms == run[-1].end_ms:
                run.append(w)
            else:
                out.append(run)
                run = [w]
        out.append(run)
    return out


class RecomputeJob:
    """Claims the ``trips`` consumer's dirty windows and recomputes them (module doc)."""

    def __init__(
        self,
        db: Database,
        tsdb: TimeSeriesStore,
        *,
        batch: int = 200,
        lease_s: float = 300.0,
        worker: str | None = None,
        loader: FixesLoader | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch: {batch} must be at least 1")
        self.db = db
        self.batch = batch
        self.lease_s = lease_s
        self.worker = worker or f"trips@{socket.gethostname()}:{os.getpid()}"
        self.loader = loader or timeseries_fixes_loader(tsdb, counties=None)
        self.stats = JobStats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> PassResult:
        """One pass: at most ``batch`` windows."""
        async with self.db.transaction() as s:
            windows = await dirty.claim(
                s, CONSUMER, worker=self.worker, limit=self.batch, lease_s=self.lease_s
            )
        result = PassResult(claimed=len(windows))
        done: list[dirty.Window] = []
        for span in spans_of(windows):
            first, last = span[0], span[-1]
            try:
                async with self.db.transaction() as s:
                    r = await recompute_window(
                        s, first.device, first.start_ms, last.end_ms, self.loader,
                        county=first.county,
                    )  # fmt: skip
                result.spans += 1
                result.new_enters += r.new_enters
                done.extend(span)
            except Exception:
                result.failed += 1
                log.exception(
                    "trips recompute failed for %s (%s) windows %d..%d; left marked for retry",
                    first.device, first.county, first.start_ms, last.end_ms,
                )  # fmt: skip
        if done:
            async with self.db.transaction() as s:
                result.completed = await dirty.complete(s, CONSUMER, done)
        self.stats.passes += 1
        self.stats.windows += result.claimed
        self.stats.failures += result.failed
        self.stats.last = result
        return result

    async def run_until_idle(self, max_passes: int = 1_000) -> int:
        """Passes until one claims nothing (or only failures are left); windows claimed."""
        total = 0
        for _ in range(max_passes):
            r = await self.run_once()
            total += r.claimed
            if r.claimed == 0 or r.spans == 0:
                break
        return total

    def wake(self) -> None:
        """Run the next pass now (e.g. after a batch upload)."""
        self._wake.set()

    async def run(self, interval_s: float) -> None:
        """A pass every ``interval_s``; another at once while the last filled its batch."""
        if interval_s <= 0:
            raise ValueError(f"interval_s: {interval_s} must be positive")
        while True:
            try:
                r = await self.run_once()
                full = r.claimed >= self.batch and r.spans > 0
            except Exception:  # the database away: try again next interval
                log.exception("trips recompute pass failed")
                full = False
            if full:
                await asyncio.sleep(0)  # let the server breathe between full batches
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_s)

    def start(self, interval_s: float) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(interval_s), name="trips-recompute")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
