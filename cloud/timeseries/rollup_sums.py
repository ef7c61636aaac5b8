"""The duration-weighted sums the roll-ups carry beside mean/min/max/count (issue 11).

Per metric and window (1 min and 1 h), the roll-up job writes the integral of the held
signal (:mod:`cloud.timeseries.kinetics`) over the window:

| field | holds |
|---|---|
| ``{m}_w`` | ΣΔt, s: the covered seconds of the window |
| ``{m}_wsum`` | Σ(value·Δt) (duration-weighted mean = wsum / w) |
| ``{m}_wmkt`` | Σ(exp(−ΔH/RT)·Δt), temperatures only (MKT) |
| ``{m}_wmin``, ``{m}_wmax`` | range of the held values that weigh in the window |
| ``{m}_hold`` | the hold cap the window was weighed with, s (2x the cadence) |

A reading's weight runs to the next reading even across a window boundary: the window
is cut exactly at its boundaries (the last reading before a window weighs its part
inside it), so adding the sums of any run of windows gives the raw computation over
them. The hold cap is 2x the poll interval the hour's readings show
(:func:`kinetics.poll_interval_ms`: the lower decile of their intervals, rounded to the
nearest common poll interval; an hour with no interval of its own takes the previous
hour's when the job recomputes both, else 0), at most :data:`kinetics.HOLD_MAX_MS`;
readers compare it with the poll interval asked for. The per-reading fields (``_mean``, ``_sum``, ``_count``, ``_mkt`` = Σexp(−ΔH/RT)
per reading) are unchanged: ``/series`` answers with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloud.timeseries.base import QUALITY_SUFFIX
from cloud.timeseries.kinetics import (
    HOLD_MAX_MS,
    Reading,
    Stats,
    poll_interval_ms,
    window_stats,
)
from cloud.timeseries.windows import HOUR_MS, MINUTE_MS, is_temperature

#: The weighted parts of a metric's roll-up (``{metric}_{part}``).
WEIGHTED_PARTS = ("w", "wsum", "wmkt", "wmin", "wmax", "hold")
#: What evidence reads of a roll-up window: the weighted parts, and the per-reading
#: ones for roll-ups made before the weighted sums existed.
EVIDENCE_PARTS = ("count", *WEIGHTED_PARTS, "sum", "mkt", "min", "max")


def cap_for(ts: list[int], prev: Reading | None, inherited_ms: int | None) -> int:
    """The hold cap of an hour's readings ``ts`` (``prev``: the last one before the
    hour, within :data:`HOLD_MAX_MS`): 2x their cadence, at most HOLD_MAX_MS; the
    inherited cap (the previous hour's) when they have no interval; else 0."""
    stamps = ([prev[0]] if prev is not None else []) + ts
    poll = poll_interval_ms(stamps)
    if poll is None:
        return inherited_ms if inherited_ms is not None else 0
    return min(2 * poll, HOLD_MAX_MS)


@dataclass(frozen=True, slots=True)
class HourSums:
    """The weighted fields of one hour of one series, per resolution and window, and
    what the next hour needs to be recomputed without reading this one again."""

    fields: dict[str, dict[int, dict[str, float]]]
    caps: dict[str, int]
    last: dict[str, Reading]


def hour_sums(
    rows: Iterable[tuple[int, Mapping[str, float]]],
    hour_ms: int,
    prev: Mapping[str, Reading],
    inherited: Mapping[str, int] | None = None,
) -> HourSums:
    """The weighted fields of the hour [hour, hour + 1 h) from its raw rows (ascending)
    and ``prev``, each metric's last reading before the hour (within HOLD_MAX_MS). Every
    metric with a reading in the hour or a ``prev`` gets a 1-h window (its ``_hold`` at
    least), so a missing 1-h window means no reading weighs in that hour at any cap."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for ts, fields in rows:
        for name, value in fields.items():
            if QUALITY_SUFFIX in name:
                continue
            t, v = series.setdefault(name, ([], []))
            t.append(ts)
            v.append(value)
    for name in prev:
        if QUALITY_SUFFIX not in name:
            series.setdefault(name, ([], []))
    out: dict[str, dict[int, dict[str, float]]] = {"1m": {}, "1h": {}}
    caps: dict[str, int] = {}
    last: dict[str, Reading] = {}
    end = hour_ms + HOUR_MS
    for metric, (ts, vs) in sorted(series.items()):
        p = prev.get(metric)
        if p is not None and not (hour_ms - HOLD_MAX_MS <= p[0] < hour_ms):
            p = None
        cap = cap_for(ts, p, (inherited or {}).get(metric))
        caps[metric] = cap
        if ts:
            last[metric] = (ts[-1], vs[-1])
        mkt = is_temperature(metric)
        for resolution, every in (("1m", MINUTE_MS), ("1h", HOUR_MS)):
            windows = window_stats(ts, vs, hour_ms, end, every, cap, prev=p, mkt=mkt)
            if resolution == "1h":
                windows.setdefault(hour_ms, Stats())
            for w, st in windows.items():
                out[resolution].setdefault(w, {}).update(_fields(metric, st, cap, mkt))
    return HourSums(out, caps, last)


def _fields(metric: str, st: Stats, cap_ms: int, mkt: bool) -> dict[str, float]:
    f = {
        f"{metric}_w": st.weight_s,
        f"{metric}_wsum": st.weighted,
        f"{metric}_hold": cap_ms / 1000.0,
    }
    if mkt:
        f[f"{metric}_wmkt"] = st.arrhenius
    if st.weight_s > 0:
        f[f"{metric}_wmin"] = st.lo
        f[f"{metric}_wmax"] = st.hi
    return f


@dataclass(frozen=True, slots=True)
class RollupWindow:
    """One roll-up window of one metric as evidence reads it: its stats, the hold cap
    it was weighed with (None: made before the weighted sums existed, ``legacy``)."""

    stats: Stats
    hold_ms: int | None

    @property
    def legacy(self) -> bool:
        return self.hold_ms is None


def rollup_window(
    parts: Mapping[str, float], window_ms: int, poll_interval_s: float
) -> RollupWindow | None:
    """A window from its parts (``{part: value}`` of one metric, :data:`EVIDENCE_PARTS`);
    None when it holds neither weighted nor per-reading sums.

    A window made before the weighted sums existed (no ``w``) is read as the
    per-reading roll-ups were documented (equal-interval readings): each of its ``count``
    readings weighs the poll interval asked for, at most the window's length in all."""
    n = int(parts.get("count") or 0)
    if "w" in parts and "hold" in parts:
        w = float(parts["w"])
        st = Stats(
            n,
            w,
            float(parts.get("wsum") or 0.0),
            float(parts.get("wmkt") or 0.0),
            float(parts["wmin"]) if w > 0 and "wmin" in parts else float("inf"),
            float(parts["wmax"]) if w > 0 and "wmax" in parts else float("-inf"),
        )
        return RollupWindow(st, round(float(parts["hold"]) * 1000))
    if n <= 0 or "sum" not in parts:
        return None
    weight = min(n * poll_interval_s, window_ms / 1000.0)
    mean = float(parts["sum"]) / n
    arr = float(parts["mkt"]) / n * weight if parts.get("mkt") is not None else 0.0
    st = Stats(
        n,
        weight,
        mean * weight,
        arr,
        float(parts.get("min", mean)),
        float(parts.get("max", mean)),
    )
    return RollupWindow(st, None)
