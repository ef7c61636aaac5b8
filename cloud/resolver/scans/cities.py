"""Round a shared position to its prefecture-level city, offline (pure; no IP lookup).

The table (data/cities.csv: GB/T 2260 code, name, centre longitude and latitude) is
the prefecture-level divisions and the 4 municipalities (340 rows),
taken from the ``adcodes.csv`` of the ``cpca`` package 0.5.5 on PyPI (MIT licence,
https://github.com/DQinYuan/chinese_province_city_area_mapper; wheel SHA-256
1635b589506b3e28424032bce61d2488e1f6fac1034a736014e70e043f824fe6), rows whose code
ends in 00 but not 0000, plus 110000, 120000, 310000 and 500000; see data/README.md. A position is given the city whose centre is nearest (great circle).
That is the Voronoi cell of the centres, not the city's boundary: near a boundary a
position may be given the neighbouring city. It is what "rounded to the city" needs
here (coarse and stable), and keeps no finer position than the city's centre.

Positions outside China (farther than 300 km from every centre) get no city.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "cities.csv"
EARTH_KM = 6371.0088
MAX_KM = 300.0


@dataclass(frozen=True)
class City:
    code: str
    name: str
    lon: float
    lat: float


@cache
def cities() -> tuple[City, ...]:
    with DATA.open(encoding="utf-8", newline="") as f:
        return tuple(
            City(r["adcode"], r["name"], float(r["longitude"]), float(r["latitude"]))
            for r in csv.DictReader(f)
        )


@cache
def by_code() -> dict[str, City]:
    return {c.code: c for c in cities()}


def distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest_city(lon: float, lat: float) -> City | None:
    best: City | None = None
    best_km = MAX_KM
    for c in cities():
        if abs(c.lat - lat) > 4 or abs(c.lon - lon) > 5:  # cheap cut before haversine
            continue
        d = distance_km(lon, lat, c.lon, c.lat)
        if d < best_km:
            best, best_km = c, d
    return best


def city_of_county(county: str) -> City | None:
    """The prefecture-level city a GB/T 2260 county code lies in (a municipality's
    districts: the municipality)."""
    if len(county) != 6 or not county.isdigit():
        return None
    table = by_code()
    return table.get(county[:4] + "00") or table.get(county[:2] + "0000")
