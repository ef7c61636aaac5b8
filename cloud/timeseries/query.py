"""The query layer the API and later views use: windows over a range, from the
resolution that fits the span (raw, 1-min or 1-h roll-ups), for one or many devices."""

from __future__ import annotations

import time
from collections.abc import Sequence

from cloud.timeseries.base import Bucket, Counties, TimeSeriesStore
from cloud.timeseries.windows import Resolution, choose_resolution


async def windows(
    tsdb: TimeSeriesStore,
    measurement: str,
    devices: Sequence[str],
    metric: str,
    start_ms: int,
    end_ms: int,
    every_ms: int,
    *,
    now_ms: int | None = None,
    resolution: Resolution | None = None,
    counties: Counties = None,
) -> tuple[Resolution, dict[str, list[Bucket]]]:
    """``(resolution used, {device: buckets})``; ``resolution`` forces one; only the
    readings stored under ``counties`` (None: every county)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    chosen = resolution or choose_resolution(start_ms, end_ms, every_ms, now)
    return chosen, await tsdb.aggregate(
        measurement, devices, metric, start_ms, end_ms, every_ms, chosen, counties=counties
    )
