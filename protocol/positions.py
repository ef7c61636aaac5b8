"""Vehicle positions on the wire: the metric names and units, defined once.

A position is a set of readings of a vehicle (a registered mobile device of kind
``vehicle``) at one instant, stored in the one time series under the measurement
``vehicle`` (:class:`protocol.messages.AssetKind`), in WGS-84. A truck gateway
publishes them in ordinary data batches (a series of kind ``vehicle`` whose
``values`` use the names below); phones reach the same series through the cloud's
OsmAnd endpoint (``cloud/logistics/positions``). Reefer probes are ordinary metrics
beside them (``temp1``, ``temp2``, ... in °C).

Every value is a float (the wire contract): ``charging`` is 0.0 or 1.0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Final

MEASUREMENT: Final = "vehicle"

LAT: Final = "lat"
LON: Final = "lon"
SPEED_KMH: Final = "speed_kmh"
COURSE_DEG: Final = "course_deg"
ALT_M: Final = "alt_m"
ACCURACY_M: Final = "accuracy_m"
HDOP: Final = "hdop"
BATTERY_PCT: Final = "battery_pct"
CHARGING: Final = "charging"

#: Each position metric: (unit, lowest, highest) (inclusive, finite).
POSITION_METRICS: Final[dict[str, tuple[str, float, float]]] = {
    LAT: ("degree (WGS-84, north positive)", -90.0, 90.0),
    LON: ("degree (WGS-84, east positive)", -180.0, 180.0),
    SPEED_KMH: ("km/h", 0.0, 1_000.0),
    COURSE_DEG: ("degree from true north, clockwise", 0.0, 360.0),
    ALT_M: ("metre above the WGS-84 ellipsoid (as the receiver reports it)", -1_000.0, 20_000.0),
    ACCURACY_M: ("metre (horizontal, 68 %)", 0.0, 1_000_000.0),
    HDOP: ("dimensionless", 0.0, 100.0),
    BATTERY_PCT: ("percent", 0.0, 100.0),
    CHARGING: ("0 or 1", 0.0, 1.0),
}

#: A reefer probe: ``temp1`` .. ``temp9``, °C.
REEFER_PROBE_RE: Final = re.compile(r"^temp[1-9]$")
REEFER_UNIT: Final = "°C"

#: Speed conversions to km/h.
KMH_PER: Final[dict[str, float]] = {
    "kmh": 1.0,
    "ms": 3.6,  # metres per second
    "kn": 1.852,  # knots
    "mph": 1.609344,
}


def check_position_value(metric: str, value: float) -> str | None:
    """Why ``value`` is not a valid ``metric`` of a position (None: it is, or the
    metric is not a position metric)."""
    spec = POSITION_METRICS.get(metric)
    if spec is None:
        return None
    unit, low, high = spec
    if not math.isfinite(value):
        return f"{metric} must be a finite number, got {value!r}"
    if not low <= value <= high:
        return f"{metric} {value!r} is outside {low:g}..{high:g} ({unit})"
    if metric == CHARGING and value not in (0.0, 1.0):
        return f"charging must be 0 or 1, got {value!r}"
    return None


#: A position's two halves: one out of range takes the other at that instant with it.
PAIRED: Final[dict[str, str]] = {LAT: LON, LON: LAT}


def out_of_range(
    values: Mapping[str, Sequence[float | None]],
) -> dict[str, list[tuple[int, str]]]:
    """The position values of a series (metric -> column) outside their ranges:
    ``{metric: [(index, reason), ...]}``, other metrics (``temp1``, ...) untouched."""
    out: dict[str, list[tuple[int, str]]] = {}
    for metric, column in values.items():
        if metric not in POSITION_METRICS:
            continue
        for i, value in enumerate(column):
            if value is not None:
                reason = check_position_value(metric, value)
                if reason is not None:
                    out.setdefault(metric, []).append((i, reason))
    return out
