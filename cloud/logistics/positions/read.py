"""Reading positions back: the stored fixes of a vehicle over a window, by fix time.

This is the public read other packages use (trips, geofences, replay, the console):
``await positions_of(tsdb, vehicle, start_ms, end_ms, counties=[county])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cloud.timeseries import QUALITY_SUFFIX, TimeSeriesStore
from protocol import positions as pos

_NAMED = {
    pos.LAT,
    pos.LON,
    pos.SPEED_KMH,
    pos.COURSE_DEG,
    pos.ALT_M,
    pos.ACCURACY_M,
    pos.HDOP,
    pos.BATTERY_PCT,
    pos.CHARGING,
}


@dataclass(frozen=True, slots=True)
class Position:
    """One stored fix: time UTC (epoch ms), degrees, km/h, metres, percent; every
    other field of the instant (reefer probes ``temp1``..., ``motion``) in ``attributes``."""

    ts_ms: int
    lat: float
    lon: float
    speed_kmh: float | None = None
    course_deg: float | None = None
    alt_m: float | None = None
    accuracy_m: float | None = None
    hdop: float | None = None
    battery_pct: float | None = None
    charging: bool | None = None
    attributes: dict[str, float] = field(default_factory=dict)

    @property
    def time(self) -> str:
        """UTC ISO-8601 with milliseconds and ``Z``."""
        dt = datetime.fromtimestamp(self.ts_ms / 1000, UTC)
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def position(ts_ms: int, fields: dict[str, float]) -> Position | None:
    """The fix of one time-series row (None: the row has no lat/lon, e.g. a reefer
    reading alone)."""
    lat, lon = fields.get(pos.LAT), fields.get(pos.LON)
    if lat is None or lon is None:
        return None
    charging = fields.get(pos.CHARGING)
    return Position(
        ts_ms,
        lat,
        lon,
        speed_kmh=fields.get(pos.SPEED_KMH),
        course_deg=fields.get(pos.COURSE_DEG),
        alt_m=fields.get(pos.ALT_M),
        accuracy_m=fields.get(pos.ACCURACY_M),
        hdop=fields.get(pos.HDOP),
        battery_pct=fields.get(pos.BATTERY_PCT),
        charging=None if charging is None else charging >= 0.5,
        attributes={
            k: v for k, v in fields.items() if k not in _NAMED and not k.endswith(QUALITY_SUFFIX)
        },
    )


async def positions_of(
    tsdb: TimeSeriesStore,
    vehicle: str,
    start_ms: int,
    end_ms: int,
    *,
    counties: Sequence[str] | None,
) -> list[Position]:
    """The stored fixes of ``vehicle`` in [start, end), in fix-time order, stored under
    ``counties`` (None: every county; a vehicle's fixes are under its owner's)."""
    rows = await tsdb.raw_rows(pos.MEASUREMENT, vehicle, start_ms, end_ms, counties=counties)
    out = []
    for ts, fields in rows:
        p = position(ts, fields)
        if p is not None:
            out.append(p)
    return out
