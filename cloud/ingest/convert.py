"""A validated data batch -> time-series points.

One point per (series, instant): measurement = the series' asset kind; tags county
(from the topic, checked against the registry), site (fixed assets only) and device; fields = the
metrics present at that instant, plus ``{metric}__q`` for non-zero quality flags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container

from cloud.timeseries import QUALITY_SUFFIX, Point
from protocol.messages import AssetKind, DataBatch, Series

MOBILE_KINDS = frozenset({AssetKind.VEHICLE, AssetKind.BLE_TAG})


def series_points(
    series: Series, county: str, default_site: str, skip: Container[int] = ()
) -> list[Point]:
    ts = series.timestamps()
    flags = series.flags_at()
    # A moving asset (a vehicle, a BLE tag) is one series whichever gateway heard it:
    # it gets no site tag. Fixed assets are tagged with their site.
    site = "" if series.kind in MOBILE_KINDS else (series.site or default_site)
    fields_at: list[dict[str, float]] = [{} for _ in range(series.n)]
    for metric, column in series.values.items():
        mflags = flags.get(metric, {})
        for i, value in enumerate(column):
            if value is None:
                continue
            fields_at[i][metric] = value
            f = mflags.get(i)
            if f:
                fields_at[i][metric + QUALITY_SUFFIX] = float(f)
    kind = series.kind.value
    return [
        Point(kind, series.device, county, site, ts[i], fields)
        for i, fields in enumerate(fields_at)
        if fields and i not in skip
    ]


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
