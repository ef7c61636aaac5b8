"""Fixes as columns (numpy), sorted by fix time, one per instant: what the engines read.

Arrival order never matters: the fixes are sorted by time, and of several fixes of the
same instant the greatest (by position, speed, accuracy) is kept, so any permutation
of the same fixes gives the same columns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cloud.logistics.trips.fixes import Fix
from cloud.logistics.trips.geodesy import LOCAL_MAX_M, distance_m, radii

_RAD = math.pi / 180
_NAN = float("nan")


@dataclass(slots=True)
class Track:
    """Position fixes in time order: ``t`` (int64 ms), ``lat``, ``lon``, ``speed``
    (km/h, NaN: not reported), ``acc`` (m, NaN: unknown); ``step`` the distance (m) from
    each fix to the next (len n-1)."""

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray
    acc: np.ndarray
    step: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def take(self, mask: np.ndarray) -> Track:
        t, lat, lon = self.t[mask], self.lat[mask], self.lon[mask]
        return Track(t, lat, lon, self.speed[mask], self.acc[mask], steps(lat, lon))


@dataclass(slots=True)
class Series:
    """One attribute (a reefer temperature) in time order: ``t`` int64 ms, ``v`` float."""

    t: np.ndarray
    v: np.ndarray


def steps(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Distances (m) between consecutive points (geodesy.distance_m, vectorised: the
    local formula, Vincenty for the rare step of 20 km or more)."""
    if len(lat) < 2:
        return np.zeros(0)
    mid = np.radians((lat[1:] + lat[:-1]) / 2)
    s = np.sin(mid)
    w = 1 - 0.0066943799901413165 * s * s
    n = 6_378_137.0 / np.sqrt(w)
    m = n * (1 - 0.0066943799901413165) / w
    dlon = (np.diff(lon) + 540) % 360 - 180
    d = np.hypot(m * np.diff(lat) * _RAD, n * np.cos(mid) * dlon * _RAD)
    for i in np.flatnonzero(d >= LOCAL_MAX_M):
        d[i] = distance_m(lat[i], lon[i], lat[i + 1], lon[i + 1])
    return d


def _floats(values: list[float | None]) -> np.ndarray:
    """As float64, None as NaN."""
    return np.array(values, dtype=float) if values else np.zeros(0)


def track_of(fixes: Sequence[Fix], max_accuracy_m: float | None = None) -> Track:
    """The position fixes (valid coordinates, accuracy within the limit) as a Track."""
    t = np.array([f.t_ms for f in fixes], dtype=np.int64)
    lat = _floats([f.lat for f in fixes])
    lon = _floats([f.lon for f in fixes])
    accs = [f.accuracy_m for f in fixes]
    acc = _floats(accs)
    # Fix.has_position (None is NaN here), and an accuracy within the limit or unknown
    with np.errstate(invalid="ignore"):
        pos = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if max_accuracy_m is not None:
            pos &= (acc <= max_accuracy_m) | np.array([a is None for a in accs], dtype=bool)
    speed = _floats([f.speed_kmh for f in fixes])[pos]
    t, lat, lon, acc = t[pos], lat[pos], lon[pos], acc[pos]
    speed[~np.isfinite(speed)] = _NAN
    acc[~np.isfinite(acc)] = _NAN
    n = len(t)
    # by time; of equal times the greatest (lat, lon, speed, accuracy; NaN last) is kept
    order = np.lexsort((acc, speed, lon, lat, t))
    t, lat, lon, speed, acc = t[order], lat[order], lon[order], speed[order], acc[order]
    keep = np.ones(n, dtype=bool)
    if n > 1:
        keep[:-1] = t[1:] != t[:-1]
    t, lat, lon, speed, acc = t[keep], lat[keep], lon[keep], speed[keep], acc[keep]
    return Track(t, lat, lon, speed, acc, steps(lat, lon))


def series_of(fixes: Sequence[Fix], key: str) -> Series:
    """The readings of attribute ``key`` (finite, above absolute zero for temperatures),
    one per instant (the greatest of equal times)."""
    t = np.array([f.t_ms for f in fixes], dtype=np.int64)
    v = _floats([f.attrs.get(key) for f in fixes])
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(v) & (v > -273.15)
    t, v = t[ok], v[ok]
    order = np.lexsort((v, t))
    t, v = t[order], v[order]
    keep = np.ones(len(t), dtype=bool)
    if len(t) > 1:
        keep[:-1] = t[1:] != t[:-1]
    return Series(t[keep], v[keep])


def plane_scale(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of longitude and of latitude at each latitude (WGS-84 radii)."""
    s = np.sin(np.radians(lat))
    w = 1 - 0.0066943799901413165 * s * s
    n = 6_378_137.0 / np.sqrt(w)
    return n * np.cos(np.radians(lat)) * _RAD, n * (1 - 0.0066943799901413165) / w * _RAD


def _check_radii() -> None:  # the constants above are geodesy's (E2)
    m, nc = radii(24.4)
    kx, ky = plane_scale(np.array([24.4]))
    assert abs(kx[0] - nc * _RAD) < 1e-6 and abs(ky[0] - m * _RAD) < 1e-6


_check_radii()
