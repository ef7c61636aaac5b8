"""Distances on the WGS-84 ellipsoid, and a local plane for geometry.

Two formulas, chosen by length (tests/cloud/test_trips_geodesy.py checks both):

- a segment under :data:`LOCAL_MAX_M` (20 km: every segment between two fixes of a
  trip at any sane reporting rate) is measured on the plane tangent at its mid-latitude
  with the ellipsoid's radii of curvature there (meridional M, prime vertical N):
  ``d = hypot(M·Δφ, N·cos φ·Δλ)``. Its error against the geodesic is below 1 mm per
  km for such segments (it ignores only the curvature of a 20 km arc), where a
  spherical haversine is off by up to 0.5 % (5 m per km: Earth is not a sphere);
- a longer one by Vincenty's inverse formula (iterative, to 1e-12 rad: sub-millimetre),
  with the haversine on the mean sphere as the fallback for nearly antipodal points,
  where Vincenty does not converge (never on a road in Yunnan).
"""

from __future__ import annotations

import math

from cloud.logistics.positions.geo import haversine_m

#: WGS-84 semi-major axis (m) and flattening.
A = 6_378_137.0
F = 1 / 298.257223563
B = A * (1 - F)
E2 = F * (2 - F)
#: Segments shorter than this are measured on the local tangent plane.
LOCAL_MAX_M = 20_000.0
_RAD = math.pi / 180


def radii(lat_deg: float) -> tuple[float, float]:
    """(M, N·cos φ): metres per radian of latitude and of longitude at ``lat_deg``."""
    s = math.sin(lat_deg * _RAD)
    w = 1 - E2 * s * s
    n = A / math.sqrt(w)
    return n * (1 - E2) / w, n * math.cos(lat_deg * _RAD)


def local_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Short-segment distance (m) on the tangent plane at the mid-latitude."""
    m, nc = radii((lat1 + lat2) / 2)
    dlon = (lon2 - lon1 + 540) % 360 - 180
    return math.hypot(m * (lat2 - lat1) * _RAD, nc * dlon * _RAD)


def vincenty_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float | None:
    """Vincenty's inverse formula on WGS-84 (m); None when it does not converge."""
    u1 = math.atan((1 - F) * math.tan(lat1 * _RAD))
    u2 = math.atan((1 - F) * math.tan(lat2 * _RAD))
    big_l = ((lon2 - lon1 + 540) % 360 - 180) * _RAD
    lam = big_l
    su1, cu1, su2, cu2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    for _ in range(200):
        sl, cl = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cu2 * sl, cu1 * su2 - su1 * cu2 * cl)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = su1 * su2 + cu1 * cu2 * cl
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cu1 * cu2 * sl / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * su1 * su2 / cos2_alpha if cos2_alpha else 0.0
        c = F / 16 * cos2_alpha * (4 + F * (4 - 3 * cos2_alpha))
        prev = lam
        lam = big_l + (1 - c) * F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - prev) < 1e-12:
            break
    else:
        return None
    u_sq = cos2_alpha * (A * A - B * B) / (B * B)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    d_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm**2)
                - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )
    return B * big_a * (sigma - d_sigma)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance (m) between two WGS-84 points: the local formula for short segments,
    Vincenty for long ones (module docstring)."""
    d = local_m(lat1, lon1, lat2, lon2)
    if d < LOCAL_MAX_M:
        return d
    v = vincenty_m(lat1, lon1, lat2, lon2)
    return haversine_m(lat1, lon1, lat2, lon2) if v is None else v


class LocalPlane:
    """An equirectangular plane tangent at (lat0, lon0) with WGS-84 radii there: x east,
    y north, metres. Within a few km of the origin (a geofence, a stop) distances on it
    agree with the geodesic to better than 0.1 %; used for point-in-polygon, distances
    to a fence's edge and the track simplification, never for a trip's length."""

    __slots__ = ("kx", "ky", "lat0", "lon0")

    def __init__(self, lat0: float, lon0: float) -> None:
        m, nc = radii(lat0)
        self.lat0, self.lon0 = lat0, lon0
        self.ky, self.kx = m * _RAD, nc * _RAD

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return ((lon - self.lon0 + 540) % 360 - 180) * self.kx, (lat - self.lat0) * self.ky
