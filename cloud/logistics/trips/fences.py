"""Geofence enter/exit events of one vehicle, by fix time, with hysteresis (pure).

Per fence, each fix (accuracy within ``max_accuracy_m``; worse fixes are skipped) is

- *well inside* when inside by ``enter_margin_m + accuracy_factor·accuracy`` or more,
- *well outside* when outside by ``exit_margin_m + accuracy_factor·accuracy`` or more,
- else in the band, where it changes nothing and breaks a run.

A run of ``min_fixes`` consecutive well-inside fixes spanning ``min_dwell_s`` confirms
an **enter** (when the vehicle was outside), at the fix that completes it (``at``; the
run's first fix is ``since``); an exit likewise. A gap of ``max_gap_s`` breaks a run but
keeps the state: a truck parked in a cold store overnight with its phone off has not
left. A fence whose state is not known yet (no event before, the first fixes) takes the
first confirmed state silently: a vehicle that starts its day inside its base does not
"enter" it. Fences are judged one by one, each on its own plane
(:mod:`cloud.logistics.trips.shapes`), so neighbouring fences do not disturb each other;
fixes far from a fence (beyond its reach plus the margins) are well outside without any
arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cloud.logistics.trips.arrays import Track, plane_scale
from cloud.logistics.trips.params import GeofenceParams
from cloud.logistics.trips.shapes import Shape

#: A fence's state: True inside, False outside, None not known yet.
State = bool | None


@dataclass(frozen=True, slots=True)
class Fence:
    id: int
    shape: Shape
    location_id: int | None = None


@dataclass(frozen=True, slots=True)
class FenceEvent:
    fence_id: int
    kind: Literal["enter", "exit"]
    at_ms: int
    since_ms: int
    lat: float
    lon: float
    location_id: int | None = None


def classify(track: Track, fence: Fence, p: GeofenceParams) -> np.ndarray:
    """+1 well inside, -1 well outside, 0 the band, per fix (int8)."""
    n = len(track)
    acc = np.nan_to_num(track.acc, nan=0.0) * p.accuracy_factor
    cls = np.full(n, -1, dtype=np.int8)
    reach = fence.shape.reach_m() + p.exit_margin_m + p.max_accuracy_m * p.accuracy_factor + 1
    kx, ky = plane_scale(np.array([fence.shape.lat]))
    near = (np.abs(track.lat - fence.shape.lat) * ky[0] <= reach) & (
        np.abs((track.lon - fence.shape.lon + 540) % 360 - 180) * kx[0] <= reach
    )
    idx = np.flatnonzero(near)
    if len(idx):
        d = fence.shape.signed_distance(track.lat[idx], track.lon[idx])
        a = acc[idx]
        c = np.zeros(len(idx), dtype=np.int8)
        c[d >= p.enter_margin_m + a] = 1
        c[-d >= p.exit_margin_m + a] = -1
        cls[idx] = c
    return cls


def fence_events(
    track: Track,
    fences: Sequence[Fence],
    params: GeofenceParams | None = None,
    *,
    initial: Mapping[int, State] | None = None,
    emit_from_ms: int | None = None,
    max_gap_s: float = 3_600.0,
) -> tuple[list[FenceEvent], dict[int, State]]:
    """The events of ``track`` (time order, one fix per instant) against ``fences``,
    from each fence's ``initial`` state; events confirmed before ``emit_from_ms`` only
    move the state (the warm-up of a recompute). Returns the events in time order and
    the final states."""
    p = params or GeofenceParams()
    ok = ~(track.acc > p.max_accuracy_m)  # NaN (unknown accuracy) is kept
    tr = track.take(ok) if not ok.all() else track
    t = tr.t
    n = len(t)
    gap_ms = max_gap_s * 1000.0
    breaks = np.flatnonzero(np.diff(t) >= gap_ms) + 1 if n else np.zeros(0, dtype=np.int64)
    need_ms = p.min_dwell_s * 1000.0
    states = dict(initial or {})
    out: list[FenceEvent] = []
    for fence in fences:
        state = states.get(fence.id)
        if n == 0:
            continue
        cls = classify(tr, fence, p)
        # runs of equal class, cut at gaps too
        change = np.flatnonzero(np.diff(cls)) + 1
        starts = np.union1d(np.concatenate(([0], change)), breaks).astype(np.int64)
        ends = np.append(starts[1:], n)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            c = int(cls[a])
            if c == 0 or (state is True and c == 1) or (state is False and c == -1):
                continue
            # the first fix k of the run with k - a + 1 >= min_fixes and t_k - t_a >= dwell
            k = max(a + p.min_fixes - 1, int(np.searchsorted(t[a:b], t[a] + need_ms)) + a)
            if k >= b:
                continue
            inside = c == 1
            if state is not None and (emit_from_ms is None or t[k] >= emit_from_ms):
                out.append(
                    FenceEvent(
                        fence.id,
                        "enter" if inside else "exit",
                        int(t[k]),
                        int(t[a]),
                        float(tr.lat[k]),
                        float(tr.lon[k]),
                        fence.location_id,
                    )
                )
            state = inside
        states[fence.id] = state
    out.sort(key=lambda e: (e.at_ms, e.fence_id, e.kind))
    return out, states


def state_at(events: Sequence[FenceEvent | tuple[int, str]]) -> dict[int, State]:
    """Each fence's state after ``events`` (time order): the last event's."""
    out: dict[int, State] = {}
    for e in events:
        fid, kind = (e.fence_id, e.kind) if isinstance(e, FenceEvent) else e
        out[fid] = kind == "enter"
    return out
