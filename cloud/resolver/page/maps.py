"""The origin map: a small inline SVG of the county's outline with the base marked.

The outlines of Dehong's five counties are vendored as data
(``data/dehong_counties.json``: the source is named in the file; each outline was
simplified with :func:`simplify`). Nothing is fetched: no tiles, no map service.
The outlines are GCJ-02 (as published); a base's WGS-84 point lands a few hundred
metres off, which at this scale (a county is 40-90 km across) is under a pixel or two.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "dehong_counties.json"
WIDTH = 300


@dataclass(frozen=True)
class CountyMap:
    code: str
    name: str
    name_en: str
    width: int
    height: int
    outline: str  # SVG path data
    base: tuple[float, float] | None  # x, y of the base; None: no base or outside the frame


@cache
def _counties() -> dict[str, dict]:  # type: ignore[type-arg]
    return json.loads(DATA.read_text(encoding="utf-8"))["counties"]


def simplify(points: list[list[float]], tolerance: float) -> list[list[float]]:
    """Douglas-Peucker: the points of the polyline that keep it within ``tolerance``
    (degrees) of the original (how the vendored outlines were made)."""
    if len(points) < 3:
        return points
    (ax, ay), (bx, by) = points[0], points[-1]
    dx, dy = bx - ax, by - ay
    length = math.hypot(dx, dy)
    best, index = -1.0, 0
    for i in range(1, len(points) - 1):
        px, py = points[i]
        if length:
            dist = abs(dy * (px - ax) - dx * (py - ay)) / length
        else:
            dist = math.hypot(px - ax, py - ay)
        if dist > best:
            best, index = dist, i
    if best <= tolerance:
        return [points[0], points[-1]]
    return simplify(points[: index + 1], tolerance)[:-1] + simplify(points[index:], tolerance)


def county_names(code: str) -> tuple[str, str] | None:
    c = _counties().get(code)
    return None if c is None else (c["name"], c["name_en"])


def county_map(code: str, base: tuple[float, float] | None) -> CountyMap | None:
    """The county's outline projected to a ``WIDTH``-wide frame (equirectangular, x
    scaled by cos(latitude)), and the base (lon, lat) in it; None for a county we hold
    no outline of."""
    c = _counties().get(code)
    if c is None:
        return None
    ring = c["ring"]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    lon0, lon1, lat0, lat1 = min(lons), max(lons), min(lats), max(lats)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    pad = 8
    scale = (WIDTH - 2 * pad) / ((lon1 - lon0) * k)
    height = round((lat1 - lat0) * scale + 2 * pad)

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return pad + (lon - lon0) * k * scale, pad + (lat1 - lat) * scale

    d = "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in (xy(lon, lat) for lon, lat in ring)) + "Z"
    mark = None
    if base is not None:
        bx, by = xy(*base)
        if -pad <= bx <= WIDTH + pad and -pad <= by <= height + pad:
            mark = (round(bx, 1), round(by, 1))
    return CountyMap(code, c["name"], c["name_en"], WIDTH, height, d, mark)
