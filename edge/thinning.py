"""Thin a stored batch: keep every Nth instant of each series, flag what is left.

Used by the buffer when it is full, before it drops anything: a cold room read
every second and thinned to every 4th second still shows every excursion that
lasts longer than a few seconds, which a dropped hour does not. The kept
readings carry the ``THINNED`` quality flag, so the cloud can tell.

The batch keeps its id and seq: if the full version was written before the
outage cut the ack, the thinned one overwrites a subset of the same points.
"""

from __future__ import annotations

from edge.batcher import time_steps
from protocol.messages import DataBatch, Series
from protocol.quality import Quality


def thin_series(series: Series, keep_every: int) -> Series:
    """Every ``keep_every``-th instant of ``series`` (the first one always)."""
    keep = list(range(0, series.n, keep_every))
    if len(keep) == series.n:
        return series
    ts = series.timestamps()
    kept_ts = [ts[i] for i in keep]
    dt = time_steps(kept_ts)
    flags = series.flags_at()
    quality: dict[str, list[tuple[int, int]]] = {}
    for metric in series.values:
        own = flags.get(metric, {})
        quality[metric] = [(j, own.get(i, 0) | int(Quality.THINNED)) for j, i in enumerate(keep)]
    return Series(
        device=series.device,
        kind=series.kind,
        site=series.site,
        t0=kept_ts[0],
        n=len(keep),
        dt=dt,
        values={m: [col[i] for i in keep] for m, col in series.values.items()},
        quality=quality,
    )


def thin_batch(batch: DataBatch, keep_every: int) -> DataBatch:
    """``batch`` with each series thinned to every ``keep_every``-th instant."""
    if keep_every < 2:
        raise ValueError(f"keep_every must be at least 2, got {keep_every}")
    return batch.model_copy(update={"series": [thin_series(s, keep_every) for s in batch.series]})
