"""Windows, roll-up resolutions and the roll-up arithmetic, shared by both stores.

Days count in Beijing time (UTC+8): a window of ``every`` starts at
``k * every + offset_ms(every)``, so that Beijing midnight is always a window
boundary (a 1-day window runs 16:00 UTC to 16:00 UTC).

A roll-up of one metric over one window holds ``{metric}_mean``, ``_min``,
``_max``, ``_count``, ``_sum`` and, for temperatures, ``_mkt`` =
Σ exp(−ΔH/RT) over the readings (ΔH/R = 10 000 K, T in kelvin). Mean kinetic
temperature over any set of windows is then −ΔH/R / ln(Σ_mkt / Σ_count) − 273.15
(USP <1160>, equal-interval readings), long after the raw data has expired. The
duration-weighted sums that sensor evidence reads are beside them
(:mod:`cloud.timeseries.rollup_sums`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cloud.timeseries.base import QUALITY_SUFFIX, Bucket
from cloud.timeseries.kinetics import DELTA_H_OVER_R, KELVIN

Resolution = Literal["raw", "1m", "1h"]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: Beijing time, UTC+8, no daylight saving.
BEIJING_OFFSET_MS = 8 * HOUR_MS

RESOLUTION_MS: dict[Resolution, int] = {"raw": 1, "1m": MINUTE_MS, "1h": HOUR_MS}
#: InfluxDB retention policy (and SQLite table) of each resolution.
RETENTION_POLICY: dict[Resolution, str] = {"raw": "raw", "1m": "rollup_1m", "1h": "rollup_1h"}
#: Raw retention: beyond the 90 days the wire contract accepts, so a backlog is never refused.
RAW_RETENTION_DAYS = 100
#: Roll-ups: at least 2 years (China's agricultural-product law keeps records 2 years).
ROLLUP_RETENTION_DAYS = 800

ROLLUP_PARTS = ("mean", "min", "max", "count", "sum", "mkt")


def offset_ms(every_ms: int) -> int:
    """The window offset that puts Beijing midnight on a boundary."""
    return (-BEIJING_OFFSET_MS) % every_ms


def window_start(ts_ms: int, every_ms: int) -> int:
    off = offset_ms(every_ms)
    return (ts_ms - off) // every_ms * every_ms + off


def is_temperature(metric: str) -> bool:
    """Metrics whose roll-ups carry Σexp(−ΔH/RT): temperatures in °C."""
    return metric == "temperature" or metric.startswith("temp")


def arrhenius(celsius: float) -> float:
    return math.exp(-DELTA_H_OVER_R / (celsius + KELVIN))


def mkt_celsius(mkt_sum: float, count: float) -> float | None:
    if count <= 0 or mkt_sum <= 0:
        return None
    return -DELTA_H_OVER_R / math.log(mkt_sum / count) - KELVIN


def choose_resolution(start_ms: int, end_ms: int, every_ms: int, now_ms: int) -> Resolution:
    """The coarsest roll-up whose window divides ``every_ms``: the 1-h roll-ups for
    whole hours, the 1-min roll-ups for whole minutes, raw points only for windows
    narrower than a minute (or not a whole number of minutes).

    A roll-up point stands for up to 60 (or 3600) raw points, so a wide window reads
    far less from the roll-ups. Hours not rolled up yet (the live tail, late data) and
    the partial roll-up windows at the ends of the range are read raw by the query
    layer (:func:`cloud.timeseries.query.windows`), so the answer is the same as
    from raw points. ``start_ms``, ``end_ms`` and ``now_ms`` are kept for callers and
    future rules; the span does not change the choice.
    """
    del start_ms, end_ms, now_ms
    if every_ms % HOUR_MS == 0:
        return "1h"
    if every_ms % MINUTE_MS == 0:
        return "1m"
    return "raw"


@dataclass(slots=True)
class Parts:
    """The additive parts of one window: Σvalue, count, min, max and Σexp(−ΔH/RT)
    (``mkt`` None when a part lacks it: not a temperature, or aggregated raw)."""

    total: float = 0.0
    count: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    mkt: float | None = None

    def merge(self, total: float, lo: float, hi: float, count: float, mkt: float | None) -> None:
        if count <= 0:
            return
        if self.count <= 0:
            self.mkt = mkt
        elif self.mkt is not None and mkt is not None:
            self.mkt += mkt
        else:
            self.mkt = None
        self.total += total
        self.count += count
        self.lo = min(self.lo, lo)
        self.hi = max(self.hi, hi)

    def bucket(self, ts_ms: int) -> Bucket:
        return bucket_from_parts(
            ts_ms,
            self.total,
            self.lo if self.count else None,
            self.hi if self.count else None,
            self.count,
            self.mkt,
        )


#: ``{device: {window start: Parts}}``
PartsByDevice = dict[str, dict[int, Parts]]


def merge_parts(into: PartsByDevice, more: PartsByDevice) -> None:
    for device, windows in more.items():
        mine = into.setdefault(device, {})
        for w, p in windows.items():
            mine.setdefault(w, Parts()).merge(p.total, p.lo, p.hi, p.count, p.mkt)


def values_parts(
    ts: Sequence[int], values: Sequence[float], every_ms: int, *, mkt: bool
) -> dict[int, Parts]:
    """Raw points of one metric, ``ts`` ascending -> Parts per window of ``every_ms``
    (with Σexp(−ΔH/RT) when ``mkt``): what the roll-ups of those points add up to.
    Each window is a slice found by bisection, summed by builtins."""
    out: dict[int, Parts] = {}
    i, n = 0, len(ts)
    while i < n:
        w = window_start(ts[i], every_ms)
        j = bisect_left(ts, w + every_ms, i)
        vs = values[i:j]
        arr = math.fsum(math.exp(-DELTA_H_OVER_R / (v + KELVIN)) for v in vs) if mkt else None
        out[w] = Parts(math.fsum(vs), float(j - i), min(vs), max(vs), arr)
        i = j
    return out


Span = tuple[int, int]


def plan_spans(
    start_ms: int,
    end_ms: int,
    resolution: Resolution,
    skip_hours: Iterable[int] = (),
    raw_minutes: Iterable[int] | None = None,
) -> dict[Resolution, list[Span]]:
    """Which resolution reads which part of [start, end): whole windows of
    ``resolution`` from it, the partial windows at the ends from the next finer
    resolution (1 h -> 1 min -> raw), and ``skip_hours`` (hours whose roll-ups are not
    current) raw; or, when ``raw_minutes`` is given (the minutes of those hours whose
    1-min roll-ups are not current), those minutes raw and the rest of those hours from
    the 1-min roll-ups. Spans are half-open and disjoint, and together cover
    [start, end)."""
    plan: dict[Resolution, list[Span]] = {"raw": [], "1m": [], "1h": []}
    finer: dict[Resolution, Resolution] = {"1h": "1m", "1m": "raw"}

    def place(a: int, b: int, res: Resolution) -> None:
        if a >= b:
            return
        if res == "raw":
            plan["raw"].append((a, b))
            return
        step = RESOLUTION_MS[res]
        lo = -(-a // step) * step
        hi = b // step * step
        if lo >= hi:
            place(a, b, finer[res])
            return
        place(a, lo, finer[res])
        plan[res].append((lo, hi))
        place(hi, b, finer[res])

    def skipped(a: int, b: int) -> None:
        if raw_minutes is None or resolution == "raw":
            plan["raw"].append((a, b))
            return
        t = a
        for m in stale:
            if m + MINUTE_MS <= t or m >= b:
                continue
            lo, hi = max(t, m), min(b, m + MINUTE_MS)
            place(t, lo, "1m")
            plan["raw"].append((lo, hi))
            t = hi
        place(t, b, "1m")

    stale = sorted(set(raw_minutes or ()))
    cursor = start_ms
    for h in sorted(set(skip_hours)):
        a, b = max(h, start_ms), min(h + HOUR_MS, end_ms)
        if a >= b:
            continue
        place(cursor, a, resolution)
        skipped(a, b)
        cursor = b
    place(cursor, end_ms, resolution)
    return {res: _coalesce(spans) for res, spans in plan.items() if spans}


def _coalesce(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


@dataclass(slots=True)
class _Acc:
    count: float = 0.0
    total: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    mkt: float = 0.0


def rollup_fields(
    rows: Iterable[tuple[int, dict[str, float]]], every_ms: int
) -> dict[int, dict[str, float]]:
    """Raw rows ``(ts_ms, fields)`` -> ``{window_start: roll-up fields}`` (UTC-aligned
    minutes or hours: 1 m and 1 h divide the Beijing offset)."""
    acc: dict[int, dict[str, _Acc]] = {}
    for ts, fields in rows:
        w = window_start(ts, every_ms)
        win = acc.setdefault(w, {})
        for name, value in fields.items():
            if QUALITY_SUFFIX in name:
                continue
            a = win.setdefault(name, _Acc())
            a.count += 1
            a.total += value
            a.lo = min(a.lo, value)
            a.hi = max(a.hi, value)
            if is_temperature(name):
                a.mkt += arrhenius(value)
    out: dict[int, dict[str, float]] = {}
    for w, metrics in acc.items():
        f: dict[str, float] = {}
        for name, a in metrics.items():
            f[f"{name}_mean"] = a.total / a.count
            f[f"{name}_min"] = a.lo
            f[f"{name}_max"] = a.hi
            f[f"{name}_count"] = a.count
            f[f"{name}_sum"] = a.total
            if is_temperature(name):
                f[f"{name}_mkt"] = a.mkt
        out[w] = f
    return out


def bucket_from_parts(
    ts_ms: int,
    total: float | None,
    lo: float | None,
    hi: float | None,
    count: float | None,
    mkt_sum: float | None,
) -> Bucket:
    n = int(count or 0)
    mean = (total / n) if (total is not None and n) else None
    return Bucket(ts_ms, mean, lo, hi, n, mkt_celsius(mkt_sum, n) if mkt_sum is not None else None)
