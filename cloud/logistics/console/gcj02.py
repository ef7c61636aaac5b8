"""WGS-84 → GCJ-02 (the "Mars" datum of Chinese map tiles), for drawing only.

Positions are stored in WGS-84 (GPS, OsmAnd, gateways). AMap's tiles are drawn in
GCJ-02, so a WGS-84 point drawn on them lands 100-700 m off; the console converts a
point at the moment it draws it on GCJ-02 tiles, never what it stores.
Tianditu (CGCS2000, within centimetres of WGS-84) and OpenStreetMap need nothing.

This is the widely published algorithm (Krasovsky 1940 ellipsoid, as in
eviltransform and every map SDK's "coordinate conversion"); the same formulas are in
``static/gcj02.js`` for the browser. Outside China's bounding box (the algorithm's own
rectangle: longitude 72.004-137.8347, latitude 0.8293-55.8271) it is the identity.
The rectangle is coarse: it covers Myanmar next door to Dehong, where it shifts points
as the tiles of AMap do.
"""

from __future__ import annotations

import math

#: Krasovsky 1940 semi-major axis (m) and eccentricity squared, as the algorithm uses
A = 6378245.0
EE = 0.00669342162296594323


def out_of_china(lat: float, lon: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _d_lat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _d_lon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """``(lat, lon)`` in GCJ-02 for a WGS-84 point; unchanged outside China."""
    if out_of_china(lat, lon):
        return lat, lon
    d_lat = _d_lat(lon - 105.0, lat - 35.0)
    d_lon = _d_lon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((A * (1 - EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + d_lat, lon + d_lon


def gcj02_to_wgs84(lat: float, lon: float, *, tolerance_deg: float = 1e-9) -> tuple[float, float]:
    """The inverse by fixed-point iteration (the forward map is nearly a translation
    locally): better than 1e-7° (about 1 cm) within a few rounds."""
    w_lat, w_lon = lat, lon
    for _ in range(30):
        g_lat, g_lon = wgs84_to_gcj02(w_lat, w_lon)
        d_lat, d_lon = g_lat - lat, g_lon - lon
        w_lat, w_lon = w_lat - d_lat, w_lon - d_lon
        if abs(d_lat) < tolerance_deg and abs(d_lon) < tolerance_deg:
            break
    return w_lat, w_lon
