"""Thin a stored batch: keep every Nth instant of each series, flag what is left.

Used by the buffer when it is full, before it drops anything: a cold room read
every second and thinned to every 4th second still shows every excursion that
lasts longer than a few seconds, which a dropped hour does not. The kept
readings carry the ``THINNED`` quality flag, so the cloud can tell.

A thinned batch is a new message: the buffer gives it a new batch id (same seq,
so completeness still counts it once). A batch that was published before may
already be stored in full, its ack lost; its kept readings then keep exactly
the flags they had (``flag=False``), so that the resend writes a subset of the
stored points unchanged instead of downgrading them to THINNED. The buffer
reports every thinning in a ``buffer`` event either way.
"""

from __future__ import annotations

from edge.batcher import time_steps
from protocol.messages import DataBatch, Series
from protocol.quality import Quality


def thin_series(series: Series, keep_every: int, flag: bool = True) -> Series:
    """Every ``keep_every``-th instant of ``series`` (the first one always); the kept
    readings flagged THINNED when ``flag``, else with their own flags only."""
    keep = list(range(0, series.n, keep_every))
    if len(keep) == series.n:
        return series
    ts = series.timestamps()
    kept_ts = [ts[i] for i in keep]
    dt = time_steps(kept_ts)
    flags = series.flags_at()
    added = int(Quality.THINNED) if flag else 0
    quality: dict[str, list[tuple[int, int]]] = {}
    for metric in series.values:
        own = flags.get(metric, {})
        entries = [(j, own.get(i, 0) | added) for j, i in enumerate(keep)]
        entries = [(j, f) for j, f in entries if f]
        if entries:
            quality[metric] = entries
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


def thin_batch(batch: DataBatch, keep_every: int, new_id: str, flag: bool = True) -> DataBatch:
    """``batch`` with each series thinned to every ``keep_every``-th instant, as a new
    message ``new_id`` (same seq)."""
    if keep_every < 2:
        raise ValueError(f"keep_every must be at least 2, got {keep_every}")
    series = [thin_series(s, keep_every, flag) for s in batch.series]
    return batch.model_copy(update={"series": series, "id": new_id})
