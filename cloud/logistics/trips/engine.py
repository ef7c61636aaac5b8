"""Stops and trips of one vehicle from its fixes, by fix time (pure: no I/O).

- **Segments.** No fix for ``max_gap_s`` (3,600 s) cuts the fixes into segments: what
  happened in the gap is unknown, so no trip or stop spans it.
- **Stops.** Within a segment, in time order, each fix is tried as the anchor of a stop:
  the following fixes that lie within ``stop_radius_m`` (200 m) of it belong to it, up to
  the first that does not; if they span at least ``stop_min_s`` (180 s), they are a
  stop and the next anchor is that first fix outside; else the next fix is tried.
  Consecutive stops with less than ``stop_radius_m`` of way between them are one stop
  (jitter past the radius does not cut a stop in two).
- **Trips.** The stretches of a segment between its stops (and its ends): a trip runs
  from the last fix of a stop (or the segment's first fix) to the first fix of the next
  stop (or the segment's last fix), so it ends by a stop or by a gap. A trip has at least
  two fixes.

The result from any anchor onward depends only on the fixes from it on: this is what
lets :mod:`cloud.logistics.trips.recompute` restart at a stored stop (README: Recompute).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cloud.logistics.trips.arrays import Series, Track, plane_scale, series_of, track_of
from cloud.logistics.trips.fixes import Fix
from cloud.logistics.trips.params import TripParams
from cloud.timeseries import kinetics


@dataclass(frozen=True, slots=True)
class TempSummary:
    """A temperature over [start, end), duration-weighted like the time-series layer's
    evidence (:mod:`cloud.timeseries.kinetics`: each reading holds to the next, at most
    2x the poll interval the readings show; gaps weigh nothing)."""

    n: int
    min: float | None
    max: float | None
    mean: float | None
    mkt: float | None
    covered_s: float


@dataclass(frozen=True, slots=True)
class Item:
    """A trip or a stop. Times are fix times (UTC ms); ``first``/``last`` index the
    Track it came from. ``after_gap``: no fix in the ``max_gap_s`` before it (a
    segment's start). ``end_reason``: "stop", or "end": the segment's last fix (a gap
    follows, or the data so far ends there: which, depends on fixes that may come later,
    so it is not told apart). ``resume_ms`` (stops): the first fix outside
    the stop, where the scan went on (None when the stop runs to the end of a segment)."""

    kind: Literal["trip", "stop"]
    start_ms: int
    end_ms: int
    first: int
    last: int
    lat: float
    lon: float
    end_lat: float
    end_lon: float
    distance_m: float
    max_speed_kmh: float | None
    avg_speed_kmh: float | None
    n_fixes: int
    temp: TempSummary | None
    after_gap: bool
    end_reason: Literal["stop", "end"]
    resume_ms: int | None = None

    @property
    def duration_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0


@dataclass(slots=True)
class Analysis:
    track: Track
    temps: Series
    items: list[Item]

    @property
    def trips(self) -> list[Item]:
        return [i for i in self.items if i.kind == "trip"]

    @property
    def stops(self) -> list[Item]:
        return [i for i in self.items if i.kind == "stop"]


def segments(t: np.ndarray, max_gap_ms: float) -> list[tuple[int, int]]:
    """[first, last] index pairs of the runs without a gap of ``max_gap_ms``."""
    if len(t) == 0:
        return []
    cuts = np.flatnonzero(np.diff(t) >= max_gap_ms) + 1
    starts = [0, *cuts.tolist()]
    ends = [*(cuts - 1).tolist(), len(t) - 1]
    return list(zip(starts, ends, strict=True))


def find_stops(track: Track, lo: int, hi: int, p: TripParams) -> list[tuple[int, int]]:
    """Stops of the segment [lo, hi] as [first, last] index pairs (module docstring)."""
    t, lat, lon = track.t, track.lat, track.lon
    min_ms = p.stop_min_s * 1000.0
    r2 = p.stop_radius_m**2
    kx, ky = plane_scale(lat[lo : hi + 1])
    # a stop anchored at i holds the first fix k at or after t_i + stop_min: test it first
    idx = np.arange(lo, hi + 1)
    k = np.searchsorted(t[lo : hi + 1], t[lo : hi + 1] + min_ms) + lo
    reach = k <= hi
    kk = np.minimum(k, hi)
    dx = (lon[kk] - lon[idx]) * kx
    dy = (lat[kk] - lat[idx]) * ky
    candidates = np.flatnonzero(reach & (dx * dx + dy * dy <= r2)) + lo
    out: list[tuple[int, int]] = []
    i = lo
    pos = 0
    n_cand = len(candidates)
    while True:
        # the next candidate anchor at or after i
        pos = int(np.searchsorted(candidates, i, side="left")) if pos < n_cand else pos
        if pos >= n_cand:
            break
        i = int(candidates[pos])
        kxi, kyi = kx[i - lo], ky[i - lo]
        j = i + 1
        chunk = 64
        exit_at = hi + 1
        while j <= hi:
            stop = min(hi + 1, j + chunk)
            ddx = (lon[j:stop] - lon[i]) * kxi
            ddy = (lat[j:stop] - lat[i]) * kyi
            out_of = np.flatnonzero(ddx * ddx + ddy * ddy > r2)
            if len(out_of):
                exit_at = j + int(out_of[0])
                break
            j = stop
            chunk *= 4
        last = exit_at - 1
        if t[last] - t[i] >= min_ms:
            out.append((i, last))
            i = exit_at
        else:
            i += 1
        pos = int(np.searchsorted(candidates, i, side="left"))
    return merge_stops(track, out, p.stop_radius_m)


def merge_stops(
    track: Track, stops: list[tuple[int, int]], radius_m: float
) -> list[tuple[int, int]]:
    """Stops joined when the way between them is shorter than the stop radius: GPS
    jitter of a parked vehicle that strays past the radius of the stop's first fix does
    not cut the stop in two with a trip of a few metres between."""
    merged: list[tuple[int, int]] = []
    for a, b in stops:
        if merged and float(track.step[merged[-1][1] : a].sum()) < radius_m:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def temp_summary(temps: Series, start_ms: int, end_ms: int) -> TempSummary | None:
    """The temperature readings in [start, end), weighed (kinetics.held/stats)."""
    a = int(np.searchsorted(temps.t, start_ms, side="left"))
    b = int(np.searchsorted(temps.t, end_ms, side="left"))
    if b <= a:
        return None
    ts = temps.t[a:b].tolist()
    vs = temps.v[a:b].tolist()
    poll = kinetics.poll_interval_ms(ts) or kinetics.POLL_STEPS_MS[-1]
    cap = kinetics.hold_cap_ms(poll / 1000.0)
    values, weights = kinetics.held(ts, vs, start_ms, max(end_ms, ts[-1] + 1), cap)
    if end_ms <= ts[-1]:  # a reading at the end itself weighs nothing
        weights[-1] = 0
    st = kinetics.stats(values, weights, len(ts), mkt=True)
    return TempSummary(
        n=len(ts),
        min=st.lo if st.weight_s > 0 else min(vs),
        max=st.hi if st.weight_s > 0 else max(vs),
        mean=st.mean,
        mkt=st.mkt(),
        covered_s=st.weight_s,
    )


def _item(
    kind: Literal["trip", "stop"],
    tr: Track,
    temps: Series,
    a: int,
    b: int,
    *,
    after_gap: bool,
    end_reason: Literal["stop", "end"],
    resume: int | None = None,
) -> Item:
    t = tr.t
    dist = float(tr.step[a:b].sum()) if b > a else 0.0
    dur_s = (int(t[b]) - int(t[a])) / 1000.0
    reported = tr.speed[a : b + 1]
    reported = reported[np.isfinite(reported)]
    if len(reported):
        vmax: float | None = float(reported.max())
    elif b > a:
        dt = np.diff(t[a : b + 1]) / 1000.0
        ok = dt >= 1.0
        vmax = float((tr.step[a:b][ok] / dt[ok]).max() * 3.6) if ok.any() else None
    else:
        vmax = None
    if kind == "stop":
        lat, lon = float(tr.lat[a : b + 1].mean()), float(tr.lon[a : b + 1].mean())
        end_lat, end_lon = lat, lon
    else:
        lat, lon = float(tr.lat[a]), float(tr.lon[a])
        end_lat, end_lon = float(tr.lat[b]), float(tr.lon[b])
    return Item(
        kind=kind,
        start_ms=int(t[a]),
        end_ms=int(t[b]),
        first=a,
        last=b,
        lat=lat,
        lon=lon,
        end_lat=end_lat,
        end_lon=end_lon,
        distance_m=dist,
        max_speed_kmh=vmax,
        avg_speed_kmh=dist / dur_s * 3.6 if dur_s > 0 else None,
        n_fixes=b - a + 1,
        temp=temp_summary(temps, int(t[a]), int(t[b])),
        after_gap=after_gap,
        end_reason=end_reason,
        resume_ms=None if resume is None else int(t[resume]),
    )


def analyse(
    fixes: Sequence[Fix], params: TripParams | None = None, *, origin_ms: int | None = None
) -> Analysis:
    """Trips and stops of ``fixes`` (any order). With ``origin_ms``, only the fixes from
    it on are analysed; the earlier ones only tell whether the first item follows a gap."""
    p = params or TripParams()
    return analyse_track(
        track_of(fixes, p.max_accuracy_m), series_of(fixes, p.temp_key), p, origin_ms=origin_ms
    )


def analyse_track(
    track: Track, temps: Series, p: TripParams, *, origin_ms: int | None = None
) -> Analysis:
    """:func:`analyse` of fixes already in columns (``track_of``/``series_of``)."""
    gap_ms = p.max_gap_s * 1000.0
    prev_t: int | None = None
    if origin_ms is not None:
        cut = int(np.searchsorted(track.t, origin_ms, side="left"))
        if cut:
            prev_t = int(track.t[cut - 1])
            track = track.take(np.arange(len(track)) >= cut)
    items: list[Item] = []
    segs = segments(track.t, gap_ms)
    for n_seg, (lo, hi) in enumerate(segs):
        after_gap = n_seg > 0 or prev_t is None or int(track.t[lo]) - prev_t >= gap_ms
        seg_end: Literal["end"] = "end"
        stops = find_stops(track, lo, hi, p)
        cursor = lo
        first_item = True
        for a, b in stops:
            if a > cursor:
                items.append(_item("trip", track, temps, cursor, a, after_gap=first_item and after_gap,
                                   end_reason="stop"))  # fmt: skip
                first_item = False
            resume = b + 1 if b < hi else None
            items.append(_item("stop", track, temps, a, b, after_gap=first_item and after_gap,
                               end_reason="stop" if resume is not None else seg_end,
                               resume=resume))  # fmt: skip
            first_item = False
            cursor = b
        if hi > cursor:
            items.append(_item("trip", track, temps, cursor, hi, after_gap=first_item and after_gap,
                               end_reason=seg_end))  # fmt: skip
    return Analysis(track, temps, items)
