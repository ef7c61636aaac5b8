"""The road network of ``roads.json`` and routes along it.

A route is the shortest chain of roads between two places, densified every
:data:`STEP_M` metres. Between two waypoints the road meanders gently (a fixed
sine, at most :data:`MEANDER_M` to the side, zero at the waypoints), so a
track looks like a road, not a ruler line; it stays within that distance of
the waypoint polyline. Each point carries the road class that sets the speed:
``urban`` within :data:`URBAN_M` of a town, else the road's ``highway`` or
``county``.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from simulators.fleet.geo import bearing_deg, haversine_m, offset

ROADS_FILE = Path(__file__).with_name("roads.json")
STEP_M = 50.0
MEANDER_M = 250.0
MEANDER_WAVELENGTH_M = 2500.0
#: Around a town centre the truck drives at urban speed.
URBAN_M = 1500.0


@dataclass(frozen=True, slots=True)
class Place:
    id: str
    name: str
    name_zh: str
    county: str
    lat: float
    lon: float
    alt: float


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch without GPS and network (``tunnel``) or without network (``no_signal``)."""

    kind: str
    start_m: float
    end_m: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class Road:
    id: str
    name: str
    cls: str
    start: str
    end: str
    points: tuple[tuple[float, float, float], ...]
    gaps: tuple[Gap, ...]

    @property
    def length_m(self) -> float:
        return sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(self.points))


@dataclass(slots=True)
class Route:
    """Densified points with their distance from the start (``s``, metres)."""

    start: str
    end: str
    s: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    alt: list[float] = field(default_factory=list)
    cls: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    #: the waypoint polyline the points meander around (for checks)
    waypoints: list[tuple[float, float]] = field(default_factory=list)

    @property
    def length_m(self) -> float:
        return self.s[-1] if self.s else 0.0

    def _index(self, s: float) -> int:
        return max(0, min(len(self.s) - 2, bisect.bisect_right(self.s, s) - 1))

    def at(self, s: float) -> tuple[float, float, float, float]:
        """``(lat, lon, alt, course_deg)`` at distance ``s`` along the route."""
        s = max(0.0, min(self.length_m, s))
        i = self._index(s)
        span = self.s[i + 1] - self.s[i]
        u = 0.0 if span <= 0 else (s - self.s[i]) / span
        lat = self.lat[i] + u * (self.lat[i + 1] - self.lat[i])
        lon = self.lon[i] + u * (self.lon[i + 1] - self.lon[i])
        alt = self.alt[i] + u * (self.alt[i + 1] - self.alt[i])
        course = bearing_deg(self.lat[i], self.lon[i], self.lat[i + 1], self.lon[i + 1])
        return lat, lon, alt, course

    def road_class(self, s: float) -> str:
        return self.cls[self._index(max(0.0, min(self.length_m, s)))]

    def gap_at(self, s: float) -> Gap | None:
        for gap in self.gaps:
            if gap.start_m <= s < gap.end_m:
                return gap
        return None


@dataclass(slots=True)
class Network:
    places: dict[str, Place]
    roads: list[Road]
    _routes: dict[tuple[str, str], Route] = field(default_factory=dict)

    def place(self, place_id: str) -> Place:
        try:
            return self.places[place_id]
        except KeyError:
            raise ValueError(
                f"unknown place {place_id!r}; known places: {', '.join(sorted(self.places))}"
            ) from None

    def path(self, start: str, end: str) -> list[tuple[Road, bool]]:
        """The shortest chain of roads from ``start`` to ``end``: ``(road, reversed)``."""
        self.place(start), self.place(end)
        adj: dict[str, list[tuple[float, str, Road, bool]]] = {}
        for road in self.roads:
            length = road.length_m
            adj.setdefault(road.start, []).append((length, road.end, road, False))
            adj.setdefault(road.end, []).append((length, road.start, road, True))
        best: dict[str, float] = {start: 0.0}
        prev: dict[str, tuple[str, Road, bool]] = {}
        heap: list[tuple[float, str]] = [(0.0, start)]
        while heap:
            dist, node = heapq.heappop(heap)
            if node == end:
                break
            if dist > best.get(node, math.inf):
                continue
            for length, nxt, road, rev in adj.get(node, []):
                nd = dist + length
                if nd < best.get(nxt, math.inf):
                    best[nxt], prev[nxt] = nd, (node, road, rev)
                    heapq.heappush(heap, (nd, nxt))
        if end not in best:
            raise ValueError(f"no road from {start!r} to {end!r} in {ROADS_FILE.name}")
        chain: list[tuple[Road, bool]] = []
        node = end
        while node != start:
            node, road, rev = prev[node]
            chain.append((road, rev))
        return chain[::-1]

    def route(self, start: str, end: str) -> Route:
        key = (start, end)
        if key not in self._routes:
            self._routes[key] = _build_route(self, start, end)
        return self._routes[key]


def _meander(u: float, seg_len: float, s_local: float) -> float:
    amplitude = min(MEANDER_M, seg_len / 20.0)
    return (
        amplitude * math.sin(math.pi * u) * math.sin(2 * math.pi * s_local / MEANDER_WAVELENGTH_M)
    )


def _build_route(net: Network, start: str, end: str) -> Route:
    route = Route(start, end)
    s_total = 0.0
    for road, rev in net.path(start, end):
        pts = list(road.points[::-1] if rev else road.points)
        road_len = road.length_m
        # the road's gaps, in this route's distance (mapped by the fraction of the road)
        for gap in road.gaps:
            a, b = gap.start_m, gap.end_m
            if rev:
                a, b = road_len - gap.end_m, road_len - gap.start_m
            route.gaps.append(Gap(gap.kind, a, b, gap.name))  # shifted below
        gap_base = len(route.gaps) - len(road.gaps)
        road_start_s = s_total
        for a, b in itertools.pairwise(pts):
            seg_len = haversine_m(a[0], a[1], b[0], b[1])
            course = math.radians(bearing_deg(a[0], a[1], b[0], b[1]))
            steps = max(1, math.ceil(seg_len / STEP_M))
            first = 0 if not route.s else 1
            for k in range(first, steps + 1):
                u = k / steps
                lat = a[0] + u * (b[0] - a[0])
                lon = a[1] + u * (b[1] - a[1])
                side = _meander(u, seg_len, u * seg_len)
                lat, lon = offset(lat, lon, -side * math.sin(course), side * math.cos(course))
                if route.s:
                    s_total += haversine_m(route.lat[-1], route.lon[-1], lat, lon)
                route.s.append(s_total)
                route.lat.append(lat)
                route.lon.append(lon)
                route.alt.append(a[2] + u * (b[2] - a[2]))
                route.cls.append(road.cls)
            if not route.waypoints:
                route.waypoints.append((a[0], a[1]))
            route.waypoints.append((b[0], b[1]))
        # the meander lengthens the road: scale its gaps to the driven distance
        scale = (s_total - road_start_s) / road_len if road_len else 1.0
        for i in range(gap_base, len(route.gaps)):
            g = route.gaps[i]
            route.gaps[i] = Gap(
                g.kind, road_start_s + g.start_m * scale, road_start_s + g.end_m * scale, g.name
            )
    _mark_urban(net, route)
    return route


def _mark_urban(net: Network, route: Route) -> None:
    for place in net.places.values():
        near = [
            route.s[i]
            for i in range(0, len(route.s), 4)
            if haversine_m(route.lat[i], route.lon[i], place.lat, place.lon) < 300.0
        ]
        if not near:
            continue
        lo, hi = min(near) - URBAN_M, max(near) + URBAN_M
        for i, s in enumerate(route.s):
            if lo <= s <= hi:
                route.cls[i] = "urban"


@lru_cache(maxsize=4)
def load_network(path: Path = ROADS_FILE) -> Network:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    places = {
        pid: Place(pid, p["name"], p["name_zh"], p["county"], p["lat"], p["lon"], p["alt"])
        for pid, p in raw["places"].items()
    }
    roads = [
        Road(
            r["id"],
            r["name"],
            r["class"],
            r["from"],
            r["to"],
            tuple((float(p[0]), float(p[1]), float(p[2])) for p in r["points"]),
            tuple(
                Gap(g["kind"], g["from_km"] * 1000.0, g["to_km"] * 1000.0, g.get("name", ""))
                for g in r["gaps"]
            ),
        )
        for r in raw["roads"]
    ]
    return Network(places, roads)
