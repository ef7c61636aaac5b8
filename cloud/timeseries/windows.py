"""Windows, roll-up resolutions and the roll-up arithmetic, shared by both stores.

Days count in Beijing time (UTC+8): a window of ``every`` starts at
``k * every + offset_ms(every)``, so that Beijing midnight is always a window
boundary (a 1-day window runs 16:00 UTC to 16:00 UTC).

A roll-up of one metric over one window holds ``{metric}_mean``, ``_min``,
``_max``, ``_count``, ``_sum`` and, for temperatures, ``_mkt`` =
Σ exp(−ΔH/RT) over the readings (ΔH/R = 10 000 K, T in kelvin). Mean kinetic
temperature over any set of windows is then −ΔH/R / ln(Σ_mkt / Σ_count) − 273.15
(USP <1160>, equal-interval readings), long after the raw data has expired.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cloud.timeseries.base import QUALITY_SUFFIX, Bucket

Resolution = Literal["raw", "1m", "1h"]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: Beijing time, UTC+8, no daylight saving.
BEIJING_OFFSET_MS = 8 * HOUR_MS
#: ΔH/R of USP <1160> mean kinetic temperature, kelvin.
DELTA_H_OVER_R = 10_000.0
KELVIN = 273.15

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
    """The coarsest stored resolution that answers windows of ``every_ms`` exactly.

    Raw data is used while it covers the range and the span is short; roll-ups for
    long spans, and always for data older than raw retention.
    """
    span = end_ms - start_ms
    raw_expired = start_ms < now_ms - RAW_RETENTION_DAYS * DAY_MS
    if every_ms % HOUR_MS == 0 and (span > 7 * DAY_MS or raw_expired):
        return "1h"
    if every_ms % MINUTE_MS == 0 and (span > 2 * DAY_MS or raw_expired):
        return "1m"
    return "raw"


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
