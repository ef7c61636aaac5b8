"""Geofence shapes: a circle (centre, radius) or a polygon (one outer ring, WGS-84
``[lon, lat]`` pairs as GeoJSON has them), validated, and the signed distance of points
to their boundary (metres, positive inside) on the shape's own local plane.

Validation (each failure a ValueError starting with the field at fault, so the API's
422 names it): coordinates finite and in range; radius 10 m .. 50 km; a ring closed
(first position = last), at least 3 distinct positions, at most :data:`MAX_VERTICES`,
no two edges crossing or touching except neighbours at their shared vertex (checked
pairwise: shapely is not installed, and at 500 vertices the O(n²) test takes well under
a second), a non-zero area, and no wider than 50 km.

Each shape is measured on the plane tangent at its own centre (geodesy.LocalPlane):
polygons next to each other do not share anything, a vehicle between two cold stores is
judged against each separately.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np

from cloud.logistics.trips.geodesy import LocalPlane

MIN_RADIUS_M = 10.0
MAX_RADIUS_M = 50_000.0
MAX_EXTENT_M = 50_000.0
MAX_VERTICES = 500


def _check_lon_lat(lon: object, lat: object, where: str) -> tuple[float, float]:
    for name, v, lim in (("lon", lon, 180), ("lat", lat, 90)):
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"{where}: {name} {v!r} is not a finite number")
        if not -lim <= v <= lim:
            raise ValueError(f"{where}: {name} {v} is outside -{lim}..{lim}")
    return float(lon), float(lat)  # type: ignore[arg-type]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _on(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> bool:
    return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(p[1], r[1])


def segments_meet(
    p1: tuple[float, float],
    p2: tuple[float, float],
    q1: tuple[float, float],
    q2: tuple[float, float],
) -> bool:
    """Whether the closed segments p1p2 and q1q2 share a point."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on(q1, p1, q2))
        or (d2 == 0 and _on(q1, p2, q2))
        or (d3 == 0 and _on(p1, q1, p2))
        or (d4 == 0 and _on(p1, q2, p2))
    )


def check_ring(
    coords: Sequence[Sequence[float]], where: str = "coordinates"
) -> list[tuple[float, float]]:
    """A validated closed ring as ``[(lon, lat), ...]`` (closing position included)."""
    if not isinstance(coords, Sequence) or isinstance(coords, str):
        raise ValueError(f"{where}: a ring is a list of [lon, lat] positions")
    if len(coords) > MAX_VERTICES + 1:
        raise ValueError(f"{where}: {len(coords)} positions; at most {MAX_VERTICES + 1}")
    ring: list[tuple[float, float]] = []
    for i, pos in enumerate(coords):
        if not isinstance(pos, Sequence) or isinstance(pos, str) or len(pos) != 2:
            raise ValueError(f"{where}[{i}]: a position is [lon, lat]")
        ring.append(_check_lon_lat(pos[0], pos[1], f"{where}[{i}]"))
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise ValueError(
            f"{where}: a ring is closed (its last position repeats the first) and has at "
            "least 3 distinct positions"
        )
    if len(set(ring[:-1])) < 3:
        raise ValueError(f"{where}: a ring needs at least 3 distinct positions")
    lat0 = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    lon0 = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    plane = LocalPlane(lat0, lon0)
    xy = [plane.xy(lat, lon) for lon, lat in ring]
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    if max(xs) - min(xs) > MAX_EXTENT_M or max(ys) - min(ys) > MAX_EXTENT_M:
        raise ValueError(f"{where}: the polygon is wider than {MAX_EXTENT_M / 1000:g} km")
    edges = list(pairwise(xy))
    n = len(edges)
    boxes = [(min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])) for a, b in edges]
    for i in range(n):
        bi = boxes[i]
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                # neighbours share a vertex: they may not overlap beyond it
                a, b = edges[i], edges[j]
                shared = a[1] if j == i + 1 else a[0]
                other = b[1] if j == i + 1 else b[0]
                far = a[0] if j == i + 1 else a[1]
                if _cross(shared, far, other) == 0 and (
                    _on(shared, other, far) or _on(shared, far, other)
                ):
                    raise ValueError(f"{where}: edges {i} and {j} fold back on each other")
                continue
            bj = boxes[j]
            if bi[1] < bj[0] or bj[1] < bi[0] or bi[3] < bj[2] or bj[3] < bi[2]:
                continue
            if segments_meet(*edges[i], *edges[j]):
                raise ValueError(f"{where}: the ring crosses itself (edges {i} and {j})")
    area2 = sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(xy))
    if abs(area2) < 1.0:  # < 0.5 m²
        raise ValueError(f"{where}: the polygon has no area (its positions are in a line)")
    return ring


@dataclass(frozen=True, slots=True)
class Shape:
    """A circle (``lat``, ``lon``, ``radius_m``) or a polygon (``ring`` of (lon, lat))."""

    kind: Literal["circle", "polygon"]
    lat: float
    lon: float
    radius_m: float = 0.0
    ring: tuple[tuple[float, float], ...] = ()
    _plane: LocalPlane = field(init=False, repr=False, compare=False)
    _xy: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plane = LocalPlane(self.lat, self.lon)
        object.__setattr__(self, "_plane", plane)
        xy = np.array([plane.xy(la, lo) for lo, la in self.ring], dtype=float).reshape(-1, 2)
        object.__setattr__(self, "_xy", xy)

    @staticmethod
    def circle(lat: float, lon: float, radius_m: float) -> Shape:
        lon, lat = _check_lon_lat(lon, lat, "center")
        if not (isinstance(radius_m, int | float) and math.isfinite(radius_m)):
            raise ValueError(f"radius_m: {radius_m!r} is not a finite number")
        if not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M:
            raise ValueError(
                f"radius_m: {radius_m} m is outside {MIN_RADIUS_M:g}..{MAX_RADIUS_M:g} m"
            )
        return Shape("circle", lat, lon, float(radius_m))

    @staticmethod
    def polygon(coords: Sequence[Sequence[float]], where: str = "coordinates") -> Shape:
        ring = check_ring(coords, where)
        lat0 = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
        lon0 = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
        return Shape("polygon", lat0, lon0, 0.0, tuple(ring))

    def reach_m(self) -> float:
        """The distance from the centre beyond which every point is outside."""
        if self.kind == "circle":
            return self.radius_m
        return float(np.hypot(self._xy[:, 0], self._xy[:, 1]).max())

    def signed_distance(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Distance (m) of each point to the boundary: positive inside, negative outside."""
        x = ((lon - self.lon + 540) % 360 - 180) * self._plane.kx
        y = (lat - self.lat) * self._plane.ky
        if self.kind == "circle":
            return self.radius_m - np.hypot(x, y)
        a = self._xy[:-1]
        b = self._xy[1:]
        px, py = x[:, None], y[:, None]
        ex, ey = (b - a)[:, 0], (b - a)[:, 1]
        len2 = ex * ex + ey * ey
        u = np.clip(((px - a[:, 0]) * ex + (py - a[:, 1]) * ey) / len2, 0.0, 1.0)
        dist = np.hypot(px - (a[:, 0] + u * ex), py - (a[:, 1] + u * ey)).min(axis=1)
        # even-odd ray casting to +x
        ay, by = a[:, 1], b[:, 1]
        straddle = (ay > py) != (by > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xcross = a[:, 0] + (py - ay) * ex / (by - ay)
        inside = (np.count_nonzero(straddle & (px < xcross), axis=1) % 2) == 1
        return np.where(inside, dist, -dist)
