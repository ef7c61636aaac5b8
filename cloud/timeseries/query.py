"""The query layer the API and later views use: windows over a range, for one or many
devices, from the coarsest resolution that answers them exactly.

Windows of whole hours are read from the 1-h roll-ups and windows of whole minutes
from the 1-min roll-ups, however short the range: a roll-up point stands for up to
3600 raw points. Raw points answer only what the roll-ups cannot:

- windows narrower than a minute (resolution ``raw``);
- the hours not rolled up yet, as ``pending`` reports them (the live tail, and late
  data whose hour is marked for recomputation);
- the partial roll-up windows at the two ends of the range.

Raw points read for a roll-up answer are folded into the same parts the roll-ups
hold (Σ, min, max, count, Σexp(−ΔH/RT)), so the result equals the one from raw
points (mean, min, max, count) and carries mean kinetic temperature throughout.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

from cloud.timeseries.base import Bucket, TimeSeriesStore
from cloud.timeseries.windows import (
    PartsByDevice,
    Resolution,
    choose_resolution,
    is_temperature,
    merge_parts,
    plan_spans,
)

#: ``(measurement, devices, start_ms, end_ms) -> {device: hours (ms) whose roll-ups are
#: not current}``; :func:`cloud.timeseries.rollup.pending_hours` reads the marks.
PendingHours = Callable[[str, Sequence[str], int, int], Awaitable[Mapping[str, Collection[int]]]]


async def windows(
    tsdb: TimeSeriesStore,
    measurement: str,
    devices: Sequence[str],
    metric: str,
    start_ms: int,
    end_ms: int,
    every_ms: int,
    *,
    pending: PendingHours,
    now_ms: int | None = None,
    resolution: Resolution | None = None,
) -> tuple[Resolution, dict[str, list[Bucket]]]:
    """``(resolution used, {device: buckets})``; ``resolution`` forces one."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    chosen = resolution or choose_resolution(start_ms, end_ms, every_ms, now)
    if chosen == "raw" or not devices:
        return chosen, await tsdb.aggregate(
            measurement, devices, metric, start_ms, end_ms, every_ms, "raw"
        )
    marked = await pending(measurement, devices, start_ms, end_ms)
    # devices with the same hours pending share their queries (usually all of them:
    # the current hour)
    groups: dict[tuple[int, ...], list[str]] = {}
    for d in devices:
        groups.setdefault(tuple(sorted(marked.get(d, ()))), []).append(d)
    parts: PartsByDevice = {}
    for hours, ids in groups.items():
        for res, spans in plan_spans(start_ms, end_ms, chosen, hours).items():
            # raw points are folded into the parts the roll-ups hold, Σexp(−ΔH/RT) too
            got = await tsdb.aggregate_parts(
                measurement, ids, metric, spans, every_ms, res, mkt=is_temperature(metric)
            )
            merge_parts(parts, got)
    return chosen, {
        d: [p.bucket(w) for w, p in sorted(ws.items()) if p.count] for d, ws in parts.items() if ws
    }
