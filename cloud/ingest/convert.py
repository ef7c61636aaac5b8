"""A validated data batch -> time-series points.

One point per (series, instant): measurement = the series' asset kind; tags county
(from the topic, checked against the registry), site and device; fields = the
metrics present at that instant, plus ``{metric}__q`` for non-zero quality flags.
"""

from __future__ import annotations

from collections.abc import Container

from cloud.timeseries import QUALITY_SUFFIX, Point
from protocol.messages import Series


def series_points(
    series: Series, county: str, default_site: str, skip: Container[int] = ()
) -> list[Point]:
    ts = series.timestamps()
    flags = series.flags_at()
    site = series.site or default_site
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
