"""A fix (one position report, or one attribute-only reading such as a reefer probe's),
the fixes loader the recompute takes, and :func:`timeseries_fixes_loader`, which reads
them from the time series (the vehicle device's readings: lat, lon, speed_kmh,
accuracy_m, temp1, ...)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat

from cloud.timeseries.base import QUALITY_SUFFIX, Counties, TimeSeriesStore


@dataclass(frozen=True, slots=True)
class Fix:
    """``t_ms`` UTC ms (the fix time); ``lat``/``lon`` WGS-84 degrees (None: a reading
    without a position, e.g. a reefer probe read between fixes); ``speed_kmh`` as
    reported (None: not reported); ``accuracy_m`` (None: unknown); ``attrs`` the other
    numeric attributes (``temp1``, ...)."""

    t_ms: int
    lat: float | None
    lon: float | None
    speed_kmh: float | None = None
    accuracy_m: float | None = None
    attrs: Mapping[str, float] = field(default_factory=dict)

    @property
    def has_position(self) -> bool:
        return (
            self.lat is not None
            and self.lon is not None
            and math.isfinite(self.lat)
            and math.isfinite(self.lon)
            and -90 <= self.lat <= 90
            and -180 <= self.lon <= 180
        )


#: ``await loader(vehicle_device_id, start_ms, end_ms)``: the vehicle's fixes with
#: ``start_ms <= t_ms < end_ms``, in any order.
FixesLoader = Callable[[str, int, int], Awaitable[Sequence[Fix]]]

#: Fields of the time series that are a fix's own, not attributes.
_OWN = {"lat", "lon", "speed_kmh", "accuracy_m"}


def _attr_names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(k for k in names if k not in _OWN and not k.endswith(QUALITY_SUFFIX))


def fixes_of_columns(times: list[int], cols: Mapping[str, list[float | None]]) -> list[Fix]:
    """The fixes of raw columns (:meth:`TimeSeriesStore.raw_columns`), one per instant:
    ``lat``, ``lon``, ``speed_kmh``, ``accuracy_m`` its own (None where not written), every
    other field written at that instant an attribute (quality fields left out)."""
    missing = [None] * len(times)
    own = [cols.get(k, missing) for k in ("lat", "lon", "speed_kmh", "accuracy_m")]
    names = _attr_names(cols)
    attr_cols = [cols[k] for k in names]
    if any(None in c for c in attr_cols):  # some attributes not at every instant
        attrs: Iterable[dict[str, float]] = (
            {k: v for k, v in zip(names, vs, strict=True) if v is not None}
            for vs in zip(*attr_cols, strict=True)
        )
    elif names:
        attrs = map(dict, map(zip, repeat(names), zip(*attr_cols, strict=True)))
    else:
        attrs = ({} for _ in times)
    return list(map(Fix, times, *own, attrs))


def timeseries_fixes_loader(
    store: TimeSeriesStore, *, measurement: str = "vehicle", counties: Counties = None
) -> FixesLoader:
    """A :data:`FixesLoader` over the time series (InfluxDB or the embedded SQLite store):
    the raw points of the vehicle device in ``measurement`` under ``counties`` (None:
    every county, for jobs), one fix per instant with its metrics by name."""

    async def load(vehicle: str, start_ms: int, end_ms: int) -> list[Fix]:
        times, cols = await store.raw_columns(
            measurement, vehicle, start_ms, end_ms, counties=counties
        )
        return fixes_of_columns(times, cols)

    return load


def memory_fixes_loader(fixes_by_vehicle: Mapping[str, Sequence[Fix]]) -> FixesLoader:
    """A :data:`FixesLoader` over fixes held in memory (tests, the bench)."""

    async def load(vehicle: str, start_ms: int, end_ms: int) -> list[Fix]:
        return [f for f in fixes_by_vehicle.get(vehicle, ()) if start_ms <= f.t_ms < end_ms]

    return load
