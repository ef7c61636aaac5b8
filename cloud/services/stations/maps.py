"""The stations map: an inline SVG of the prefecture's county outlines with every
station as a point. Nothing is fetched (no tiles, no map service).

The outlines (``data/dehong_counties.json``) are a copy of the consumer trace page's
vendored data (cloud/resolver/page/data: its ``source`` names where they come from;
GCJ-02 as published). Stations are WGS-84: at this scale (the prefecture is about
150 km across in a 360 px frame) the few hundred metres between the two are under
one pixel.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "dehong_counties.json"
WIDTH = 360
PAD = 10


@dataclass(frozen=True)
class MapPoint:
    x: float
    y: float
    station: dict[str, Any]


@dataclass(frozen=True)
class Outline:
    code: str
    name: str
    name_en: str
    path: str
    label: tuple[float, float]
    programme: bool


@dataclass(frozen=True)
class StationsMap:
    width: int
    height: int
    outlines: list[Outline]
    points: list[MapPoint]


@cache
def _counties() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))["counties"]  # type: ignore[no-any-return]


def stations_map(stations: list[dict[str, Any]], programme: tuple[str, ...]) -> StationsMap:
    counties = _counties()
    lons = [p[0] for c in counties.values() for p in c["ring"]]
    lats = [p[1] for c in counties.values() for p in c["ring"]]
    lon0, lon1, lat0, lat1 = min(lons), max(lons), min(lats), max(lats)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    scale = (WIDTH - 2 * PAD) / ((lon1 - lon0) * k)
    height = round((lat1 - lat0) * scale + 2 * PAD)

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return round(PAD + (lon - lon0) * k * scale, 1), round(PAD + (lat1 - lat) * scale, 1)

    outlines = []
    for code, c in counties.items():
        pts = [xy(lon, lat) for lon, lat in c["ring"]]
        path = "M" + " L".join(f"{x},{y}" for x, y in pts) + " Z"
        cx, cy = xy(*c["center"])  # the county seat: its centre's point; the name above it
        outlines.append(
            Outline(code, c["name"], c["name_en"], path, (cx, cy - 11), code in programme)
        )
    points = [MapPoint(*xy(st["lon"], st["lat"]), station=st) for st in stations]
    # village points first, the county centres last (drawn on top)
    order = {"village": 0, "township": 1, "county": 2}
    points.sort(key=lambda p: order[p.station["tier"]])
    return StationsMap(WIDTH, height, outlines, points)
