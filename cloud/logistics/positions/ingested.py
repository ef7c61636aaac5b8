"""Positions from truck gateways (MQTT, through ingest) mark their windows by fix time,
as phone fixes do, so trips, stops, geofences and tracks are recomputed for them too.

Ingest (floor 2) cannot import logistics: :func:`attach` registers
:meth:`IngestedWindows.stored` on ingest's awaited ``stored`` hook
(:mod:`cloud.ingest.hooks`), which runs after a write group is stored and before it
is acknowledged. The windows are marked in one transaction per write group; if that
fails, the group is not acknowledged and the gateway resends it (its points are
written again, idempotently, and marked then), so a window is never lost behind an
acknowledgement. Every block of measurement ``vehicle`` counts, whatever fields it
carries (a reefer probe alone is a change of that vehicle's window as well).

Registered by ``dehong cloud ingest`` and the demo stack, beside the cold chain.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloud.db import Database
from cloud.ingest.hooks import IngestHooks
from cloud.logistics.positions import dirty
from cloud.timeseries import PointBlock
from protocol import positions as pos


class IngestedWindows:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: (consumer, window) marks made, for tests and metrics
        self.marked = 0

    async def stored(self, blocks: Sequence[PointBlock]) -> None:
        touched = {
            (b.device, b.county, dirty.window_of(ts))
            for b in blocks
            if b.measurement == pos.MEASUREMENT
            for ts in b.ts_ms
        }
        if not touched:
            return
        async with self.db.transaction() as s:
            self.marked += await dirty.mark(s, touched)


def attach(hooks: IngestHooks, db: Database) -> IngestedWindows:
    """Register the window marks of MQTT positions on an ingest pipeline's hooks."""
    windows = IngestedWindows(db)
    hooks.stored.append(windows.stored)
    return windows
