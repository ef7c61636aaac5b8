"""Phones' reefer probes (OsmAnd ``temp1``...) into the cold chain's excursion engine.

The engine runs on ingest's post-write hooks in ingest processes; fixes from phones
are written by the positions intake in the API process (``/api/v1/logistics/osmand``)
and in ``dehong logistics osmand-serve``, which ingest never sees. So every process
with an intake runs an engine of its own (:func:`cloud.coldchain.service.build_engine`,
no escalator: the ingest process's escalator sends the alarms it raises), fed two ways:

- **at once**: the intake's ``written`` hook hands the engine the blocks it just
  stored (seconds from the fix to the alarm, as for a gateway's readings);
- **durably**: every accepted fix marks its hour in ``position_dirty_windows`` for the
  consumer ``coldchain`` (registered by migration 0711) in the transaction that
  accepts it, **before** the time-series write. :class:`PositionsColdChain` claims
  the windows left to settle (last marked ``settle_s`` ago, default 60 s), has the
  engine re-evaluate each vehicle over each hour, and completes them. A process
  that stops between the write and the evaluation (or while the engine's queue
  holds the stretch) leaves the window marked; any process running this feed
  evaluates it later. A window marked again during its evaluation stays marked.

The engine's evaluation is a function of the readings (late, repeated or out of
order: the same excursions), so evaluating a stretch twice (at once and from the
window) changes nothing. A vehicle is watched only when its device is linked to a
catalog location with a profile (its first compartment: the fleet links it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import timedelta

from cloud.coldchain.engine import Engine
from cloud.coldchain.service import build_engine
from cloud.db import Database, utcnow
from cloud.logistics.positions import dirty
from cloud.logistics.positions.intake import PositionIntake
from cloud.timeseries import TimeSeriesStore
from protocol import positions as pos

log = logging.getLogger(__name__)

CONSUMER = "coldchain"


def coldchain_enabled(env: dict[str, str] | None = None) -> bool:
    """``DEHONG_COLDCHAIN_ENGINE=0`` leaves the engine out (as for ``cloud ingest``)."""
    env = dict(os.environ) if env is None else env
    return env.get("DEHONG_COLDCHAIN_ENGINE", "1").lower() not in ("0", "false", "no")


class PositionsColdChain:
    def __init__(
        self,
        db: Database,
        tsdb: TimeSeriesStore,
        engine: Engine | None = None,
        *,
        settle_s: float = 60.0,
        poll_s: float = 15.0,
        lease_s: float = 300.0,
        worker: str | None = None,
    ) -> None:
        self.db = db
        self.engine = engine or build_engine(db, tsdb)
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:coldchain"
        self._tasks: list[asyncio.Task[None]] = []
        self.windows_done = 0

    def attach(self, intake: PositionIntake) -> None:
        """Feed the engine from ``intake``'s writes (starts the engine's task lazily:
        the first write inside a running loop starts it)."""
        intake.written.append(self._written)

    def _written(self, blocks: object) -> None:
        self.engine.readings_written(blocks)  # type: ignore[arg-type]
        self._ensure_engine()

    def _ensure_engine(self) -> None:
        if not any(t.get_name() == "positions-coldchain-engine" for t in self._tasks):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._tasks.append(
                loop.create_task(self.engine.run(), name="positions-coldchain-engine")
            )

    def start(self) -> None:
        """The engine's task and the windows' backstop loop."""
        self._ensure_engine()
        if not any(t.get_name() == "positions-coldchain-windows" for t in self._tasks):
            self._tasks.append(
                asyncio.get_running_loop().create_task(
                    self._windows_forever(), name="positions-coldchain-windows"
                )
            )

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    async def _windows_forever(self) -> None:
        while True:
            try:
                while await self.run_windows():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("positions cold chain: a windows pass failed; retrying")
            await asyncio.sleep(self.poll_s)

    async def run_windows(self, *, limit: int = 100, settle_s: float | None = None) -> int:
        """Claim settled ``coldchain`` windows, evaluate each vehicle-hour, complete
        them; the number of windows evaluated (0: none was due)."""
        settle = self.settle_s if settle_s is None else settle_s
        async with self.db.transaction() as s:
            windows = await dirty.claim(
                s, CONSUMER, worker=self.worker, limit=limit, lease_s=self.lease_s,
                marked_before=utcnow() - timedelta(seconds=settle),
            )  # fmt: skip
        by_device: dict[str, list[dirty.Window]] = {}
        for w in windows:
            by_device.setdefault(w.device, []).append(w)
        done: list[dirty.Window] = []
        for device, ws in by_device.items():
            lo, hi = min(w.start_ms for w in ws), max(w.end_ms for w in ws) - 1
            try:
                # the engine reads on to the device's newest reading from lo
                await self.engine.evaluate_device(device, lo, hi, measurement=pos.MEASUREMENT)
                done.extend(ws)
            except Exception:
                # left claimed: claimed again when the lease runs out
                log.exception("positions cold chain: %s over [%d, %d] failed", device, lo, hi)
        if done:
            async with self.db.transaction() as s:
                await dirty.complete(s, CONSUMER, done)
        self.windows_done += len(done)
        return len(windows)
