"""A trip's replay track: its fixes with the reefer temperature at each (the last
reading within the hold cap), simplified for display and packed for storage.

Simplification (:mod:`cloud.logistics.trips.simplify`): each point scores
``max(route importance / track_tolerance_m, temperature importance / track_tolerance_c)``
(Douglas–Peucker on the route, on the local plane, and on temperature against time);
the ends and the trip's lowest and highest temperature score inf. Points scoring under 1
are not stored; a replay with ``max_points`` answers the best-scoring ones, in time order.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cloud.logistics.trips.arrays import Series, Track, plane_scale
from cloud.logistics.trips.params import TripParams
from cloud.logistics.trips.simplify import importance, top
from cloud.timeseries import kinetics

_COLS = (("t", np.int64), ("lat", np.float64), ("lon", np.float64), ("speed", np.float32),
         ("temp", np.float32), ("score", np.float32))  # fmt: skip


@dataclass(slots=True)
class Points:
    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray
    temp: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def pick(self, idx: np.ndarray) -> Points:
        return Points(*(getattr(self, c)[idx] for c, _ in _COLS))


def temps_at(temps: Series, t: np.ndarray) -> np.ndarray:
    """The temperature held at each time: the last reading at or before it within the hold
    cap (2x the poll interval the readings show), else NaN."""
    out = np.full(len(t), np.nan)
    if not len(temps.t) or not len(t):
        return out
    a = max(0, int(np.searchsorted(temps.t, t[0], side="right")) - 1)
    b = int(np.searchsorted(temps.t, t[-1], side="right"))
    temps = Series(temps.t[a:b], temps.v[a:b])
    poll = kinetics.poll_interval_ms(temps.t.tolist()) or kinetics.POLL_STEPS_MS[-1]
    cap = kinetics.hold_cap_ms(poll / 1000.0)
    j = np.searchsorted(temps.t, t, side="right") - 1
    ok = (j >= 0) & (t - temps.t[np.maximum(j, 0)] <= cap)
    out[ok] = temps.v[j[ok]]
    return out


def trip_points(track: Track, temps: Series, a: int, b: int, p: TripParams) -> Points:
    """The scored points of fixes a..b of ``track``, those scoring >= 1 kept."""
    return trips_points(track, temps, [(a, b)], p)[0]


def trips_points(
    track: Track, temps: Series, spans: Sequence[tuple[int, int]], p: TripParams
) -> list[Points]:
    """:func:`trip_points` of each (a, b) in ``spans``; the simplification of all of them
    in one pass (:func:`importance` of several polylines)."""
    parts, xs, ys, temp_of, have_of = [], [], [], [], []
    for a, b in spans:
        sl = slice(a, b + 1)
        t, lat, lon = track.t[sl], track.lat[sl], track.lon[sl]
        temp = temps_at(temps, t)
        kx, ky = plane_scale(np.array([lat[0]]))
        xs.append(((lon - lon[0] + 540) % 360 - 180) * kx[0])
        ys.append((lat - lat[0]) * ky[0])
        parts.append(len(t))
        have = np.isfinite(temp)
        temp_of.append(temp)
        have_of.append(np.flatnonzero(have) if have.sum() >= 2 else None)
    if not spans:
        return []
    route = importance(np.concatenate(xs), np.concatenate(ys), p.track_tolerance_m * 0.5,
                       parts=parts) / p.track_tolerance_m  # fmt: skip
    scores = np.split(route, np.cumsum(parts)[:-1])
    warm = [(i, hi) for i, hi in enumerate(have_of) if hi is not None]
    if warm:
        tx = np.concatenate([track.t[spans[i][0] : spans[i][1] + 1][hi] / 1000.0 for i, hi in warm])
        ty = np.concatenate([temp_of[i][hi] for i, hi in warm])
        lens = [len(hi) for _, hi in warm]
        tis = np.split(
            importance(tx, ty, p.track_tolerance_c * 0.5, vertical=True, parts=lens),
            np.cumsum(lens)[:-1],
        )
        for (i, hi), ti in zip(warm, tis, strict=True):
            score, temp = scores[i], temp_of[i]
            score[hi] = np.maximum(score[hi], ti / p.track_tolerance_c)
            score[hi[np.argmin(temp[hi])]] = np.inf
            score[hi[np.argmax(temp[hi])]] = np.inf
    out = []
    for (a, b), score, temp in zip(spans, scores, temp_of, strict=True):
        sl = slice(a, b + 1)
        pts = Points(track.t[sl], track.lat[sl], track.lon[sl], track.speed[sl], temp, score)
        out.append(pts.pick(np.flatnonzero(score >= 1.0)))
    return out


def pack(pts: Points) -> bytes:
    raw = b"".join(np.ascontiguousarray(getattr(pts, c), dtype=d).tobytes() for c, d in _COLS)
    return zlib.compress(raw, 1)


def unpack(data: bytes, n: int) -> Points:
    raw = zlib.decompress(data)
    cols = []
    off = 0
    for _, d in _COLS:
        size = np.dtype(d).itemsize * n
        cols.append(np.frombuffer(raw, dtype=d, count=n, offset=off))
        off += size
    return Points(*cols)


def for_display(pts: Points, max_points: int) -> Points:
    """At most ``max_points`` of the stored points: the best-scoring, in time order."""
    return pts.pick(top(pts.score.astype(np.float64), max_points))
