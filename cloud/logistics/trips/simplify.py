"""Douglas–Peucker, vectorised: each point's *importance*, the largest tolerance at which
DP still keeps it, so any tolerance or any point budget is one comparison or one
partial sort afterwards.

The recursion runs level by level over all open segments at once (numpy), so a 36,000
point trip takes milliseconds. A point's importance is its distance to the chord of the
segment that split at it, capped by its parent's (monotone: keeping the points of
importance >= tol is exactly DP with tolerance tol). Below ``floor`` the recursion
stops: those points have importance 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def importance(
    x: np.ndarray,
    y: np.ndarray,
    floor: float,
    *,
    vertical: bool = False,
    parts: Sequence[int] | None = None,
) -> np.ndarray:
    """DP importance of each point of the polyline (x, y); the ends are inf.
    ``vertical``: deviation measured along y (a time series: temperature against time)
    instead of perpendicular to the chord (a route on a plane). ``parts``: (x, y) holds
    several polylines one after the other, of these lengths, each simplified on its own
    (the same as one call each, in one pass)."""
    n = len(x)
    imp = np.zeros(n)
    if n == 0:
        return imp
    lens = np.array([n] if parts is None else parts, dtype=np.int64)
    if int(lens.sum()) != n:
        raise ValueError(f"parts: lengths sum to {int(lens.sum())}, not the {n} points")
    lens = lens[lens > 0]
    e = np.cumsum(lens) - 1
    s = e - lens + 1
    imp[s] = np.inf
    imp[e] = np.inf
    cap = np.full(len(s), np.inf)
    while len(s):
        inner = e - s - 1
        keep = inner > 0
        s, e, cap, inner = s[keep], e[keep], cap[keep], inner[keep]
        if not len(s):
            break
        seg = np.repeat(np.arange(len(s)), inner)
        offs = np.arange(len(seg)) - np.repeat(np.cumsum(inner) - inner, inner)
        idx = s[seg] + 1 + offs
        x0, y0, x1, y1 = x[s][seg], y[s][seg], x[e][seg], y[e][seg]
        dx, dy = x1 - x0, y1 - y0
        if vertical:
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.where(dx != 0, (x[idx] - x0) / dx, 0.0)
            dev = np.abs(y[idx] - (y0 + u * dy))
        else:
            len2 = dx * dx + dy * dy
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = np.abs(dx * (y[idx] - y0) - dy * (x[idx] - x0)) / np.sqrt(len2)
            dev = np.where(len2 > 0, cross, np.hypot(x[idx] - x0, y[idx] - y0))
        bounds = np.cumsum(inner) - inner
        best = np.maximum.reduceat(dev, bounds)
        hit = dev == best[seg]
        first = np.unique(seg[hit], return_index=True)[1]
        at = idx[np.flatnonzero(hit)[first]]
        split = best > floor
        at, best, cap_s = at[split], best[split], cap[split]
        val = np.minimum(best, cap_s)
        imp[at] = val
        s_old, e_old = s[split], e[split]
        s = np.concatenate((s_old, at))
        e = np.concatenate((at, e_old))
        cap = np.concatenate((val, val))
    return imp


def top(score: np.ndarray, budget: int) -> np.ndarray:
    """Indices (ascending) of the ``budget`` most important points (all when fewer)."""
    n = len(score)
    if budget >= n:
        return np.arange(n)
    chosen = np.argpartition(-score, budget - 1)[:budget]
    return np.sort(chosen)
