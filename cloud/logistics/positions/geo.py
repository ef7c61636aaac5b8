"""Distances on the WGS-84 sphere and a local metric projection (for simplification)."""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def local_xy(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """``(lat, lon)`` -> metres on an equirectangular projection centred on the points'
    mean latitude (error well under 0.1 % over a day's drive in Yunnan)."""
    if not points:
        return []
    lat0 = sum(p[0] for p in points) / len(points)
    lon0 = points[0][1]
    kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    ky = math.radians(1) * EARTH_RADIUS_M
    out = []
    for lat, lon in points:
        dlon = (lon - lon0 + 540.0) % 360.0 - 180.0  # across the antimeridian
        out.append((dlon * kx, (lat - lat0) * ky))
    return out


def douglas_peucker(xy: Sequence[tuple[float, float]], tolerance: float) -> list[int]:
    """Indexes of the points kept by Douglas-Peucker within ``tolerance`` (same unit as
    ``xy``); iterative (a day at 1 Hz is 86,400 points), first and last always kept."""
    n = len(xy)
    if n <= 2:
        return list(range(n))
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        first, last = stack.pop()
        ax, ay = xy[first]
        bx, by = xy[last]
        dx, dy = bx - ax, by - ay
        norm2 = dx * dx + dy * dy
        worst, index = -1.0, -1
        for i in range(first + 1, last):
            px, py = xy[i]
            # distance to the segment (not the line: a truck that turns back stays)
            t = 0.0 if norm2 == 0.0 else ((px - ax) * dx + (py - ay) * dy) / norm2
            t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
            d = math.hypot(px - ax - t * dx, py - ay - t * dy)
            if d > worst:
                worst, index = d, i
        if worst > tolerance:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [i for i in range(n) if keep[i]]
