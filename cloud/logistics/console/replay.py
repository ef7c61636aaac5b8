"""The replay contract: what the ``replay`` provider (the trips package's
``GET /api/v1/logistics/trips/{id}/replay``) answers, checked before the page gets it.

    {"trip_id": "...", "county": "533103", "vehicle": "veh-1",
     "t": [ms, ...], "lat": [...], "lon": [...], "temp": [... or null], "speed": [... or null],
     "temp_min_c": 10.0, "temp_max_c": 12.0}

Columns of equal length, ``t`` ascending epoch ms (UTC), ``lat``/``lon`` WGS-84
degrees, ``temp`` the reefer's °C at that point (null where none), ``speed`` km/h
(null where none). ``temp_min_c``/``temp_max_c``: the load's profile range, for the
colour scale (optional: the page then scales by the trip's own min..max).
"""

from __future__ import annotations

import math
from typing import Any

MAX_POINTS = 200_000


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_replay(data: Any) -> dict[str, Any]:
    """The replay as the page reads it; ValueError naming the field at fault."""
    if not isinstance(data, dict):
        raise ValueError("replay: not an object")
    t = data.get("t")
    if not isinstance(t, list):
        raise ValueError("replay.t: a list of epoch ms is required")
    n = len(t)
    if n > MAX_POINTS:
        raise ValueError(f"replay.t: {n} points, more than {MAX_POINTS}")
    out: dict[str, Any] = {
        k: data.get(k) for k in ("trip_id", "county", "vehicle", "temp_min_c", "temp_max_c")
    }
    for name, nullable in (
        ("t", False),
        ("lat", False),
        ("lon", False),
        ("temp", True),
        ("speed", True),
    ):
        col = data.get(name)
        if col is None and nullable:
            col = [None] * n
        if not isinstance(col, list) or len(col) != n:
            raise ValueError(f"replay.{name}: a list as long as replay.t ({n}) is required")
        for i, v in enumerate(col):
            if v is None and nullable:
                continue
            if not _num(v):
                raise ValueError(f"replay.{name}[{i}]: {v!r} is not a finite number")
        out[name] = col
    for i in range(1, n):
        if t[i] < t[i - 1]:
            raise ValueError(f"replay.t[{i}]: times must ascend")
    for i, (la, lo) in enumerate(zip(out["lat"], out["lon"], strict=True)):
        if not (-90 <= la <= 90 and -180 <= lo <= 180):
            raise ValueError(f"replay.lat/lon[{i}]: ({la}, {lo}) is not a WGS-84 position")
    for k in ("temp_min_c", "temp_max_c"):
        if out[k] is not None and not _num(out[k]):
            raise ValueError(f"replay.{k}: {out[k]!r} is not a number")
    return out
