"""A validated data batch -> time-series points.

One point per (series, instant): measurement = the series' asset kind; tags county
(from the topic, checked against the registry), site (fixed assets only) and device; fields = the
metrics present at that instant, plus ``{metric}__q`` for non-zero quality flags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from cloud.timeseries import QUALITY_SUFFIX, Point, PointBlock
from protocol.messages import AssetKind, DataBatch, Series

MOBILE_KINDS = frozenset({AssetKind.VEHICLE, AssetKind.BLE_TAG})


def series_block(
    series: Series, county: str, default_site: str, skip: Collection[int] = ()
) -> PointBlock | None:
    """The series' points in columns (None if it has none): its value columns as they
    are (not copied) when every instant is kept, the ``__q`` columns beside them."""
    n = series.n
    ts = series.timestamps()
    # A moving asset (a vehicle, a BLE tag) is one series whichever gateway heard it:
    # it gets no site tag. Fixed assets are tagged with their site.
    site = "" if series.kind in MOBILE_KINDS else (series.site or default_site)
    values = series.values
    columns: dict[str, list[float | None]] = dict(values)
    for metric, mflags in series.flags_at().items():
        column = values[metric]
        flags: list[float | None] = [None] * n
        for i, f in mflags.items():
            if f and column[i] is not None:
                flags[i] = float(f)
        if any(f is not None for f in flags):
            columns[metric + QUALITY_SUFFIX] = flags
    if skip or any(None in column for column in values.values()):
        # drop the instants refused and those without any reading
        keep = [
            i
            for i in range(n)
            if i not in skip and any(column[i] is not None for column in values.values())
        ]
        if len(keep) < n:
            ts = [ts[i] for i in keep]
            columns = {k: [column[i] for i in keep] for k, column in columns.items()}
            columns = {k: c for k, c in columns.items() if any(v is not None for v in c)}
    if not ts:
        return None
    return PointBlock(series.kind.value, series.device, county, site, ts, columns)


def series_points(
    series: Series, county: str, default_site: str, skip: Collection[int] = ()
) -> list[Point]:
    """One point per (series, instant) with a reading, except the instants in ``skip``."""
    block = series_block(series, county, default_site, skip)
    return [] if block is None else block.points()


def point_batch(batch: DataBatch, point: Point) -> DataBatch:
    """One point of ``batch`` as a batch of its own (for a dead letter that can be replayed).

    Its id is derived from the original batch id and the point, so replaying it twice
    is one batch; its seq is the original's.
    """
    values: dict[str, list[float | None]] = {}
    quality: dict[str, list[tuple[int, int]]] = {}
    for name, value in point.fields.items():
        metric, sep, _ = name.partition(QUALITY_SUFFIX)
        if sep:
            quality[metric] = [(0, int(value))]
        else:
            values[name] = [value]
    digest = hashlib.sha256(f"{batch.id}/{point.device}/{point.ts_ms}".encode()).hexdigest()
    series = Series(
        device=point.device,
        kind=AssetKind(point.measurement),
        site=point.site or None,
        t0=point.ts_ms,
        n=1,
        values=values,
        quality={m: q for m, q in quality.items() if m in values},
    )
    return DataBatch(gw=batch.gw, seq=batch.seq, id=f"dl-{digest[:32]}", series=[series])
