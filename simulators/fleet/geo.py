"""WGS-84 arithmetic on a sphere (mean Earth radius): enough for metres-scale noise
and kilometre-scale routes."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8

#: A box around Yunnan province (degrees); every simulated coordinate lies inside.
YUNNAN_BOUNDS = (21.1, 97.5, 29.3, 106.2)  # south, west, north, east


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial course from point 1 to point 2, degrees clockwise from north, [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m``/``east_m`` metres away (local flat approximation)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def in_yunnan(lat: float, lon: float) -> bool:
    south, west, north, east = YUNNAN_BOUNDS
    return south <= lat <= north and west <= lon <= east


def distance_to_segment_m(
    lat: float, lon: float, a: tuple[float, float], b: tuple[float, float]
) -> float:
    """Distance from a point to the segment a-b (local flat approximation)."""
    k = math.cos(math.radians(lat))
    ax, ay = (a[1] - lon) * k, a[0] - lat
    bx, by = (b[1] - lon) * k, b[0] - lat
    dx, dy = bx - ax, by - ay
    seg2 = dx * dx + dy * dy
    t = 0.0 if seg2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg2))
    px, py = ax + t * dx, ay + t * dy
    return math.radians(math.hypot(px, py)) * EARTH_RADIUS_M
