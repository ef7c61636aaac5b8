"""MKT and time out of range over any interval: of a CSV file (``dehong coldchain
mkt``) or of a device's time series (the API). The arithmetic is the time-series
layer's one implementation (:mod:`cloud.timeseries.kinetics`); this module only reads
CSV and shapes the answer.

CSV: a header ``time,temp_c``, then one reading per row. ``time`` is ISO 8601 with
a zone (``2026-01-01T08:00:00+08:00``, ``...Z``) or epoch seconds or milliseconds
(a number above 10^11 is milliseconds); ``temp_c`` a finite number above -273.15.
Rows may come in any order (they are sorted by time); the same time twice is refused.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloud.timeseries.kinetics import (
    Evidence,
    evidence_of,
    hold_cap_ms,
    poll_interval_ms,
    stretch,
)

MAX_ROWS = 2_000_000
#: The poll interval assumed for a file of one reading (nothing tells it otherwise), s.
DEFAULT_POLL_S = 60.0


class CsvError(ValueError):
    """A bad CSV file: the message names the line and the field."""


@dataclass(frozen=True, slots=True)
class Series:
    ts_ms: list[int]
    values: list[float]


def parse_time(text: str) -> int:
    """Epoch ms of an ISO 8601 time with a zone, or of epoch seconds / milliseconds."""
    t = text.strip()
    if not t:
        raise ValueError("empty")
    try:
        number = float(t)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{t!r} is not a time")
        return round(number) if number >= 1e11 else round(number * 1000)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00") if t.endswith("Z") else t)
    except ValueError:
        raise ValueError(
            f"{t!r} is neither ISO 8601 (2026-01-01T08:00:00+08:00) nor epoch seconds/ms"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"{t!r} has no time zone; add one (Z or +08:00)")
    return round(dt.timestamp() * 1000)


def read_csv(text: str) -> Series:
    """The readings of a ``time,temp_c`` CSV, sorted by time; CsvError naming the line
    and field of the first bad row."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise CsvError("line 1: the file is empty; expected the header time,temp_c")
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    if names[:2] != ["time", "temp_c"] or len(names) != 2:
        raise CsvError(f"line 1: header is {','.join(header)!r}; expected time,temp_c")
    out: dict[int, float] = {}
    for lineno, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise CsvError(f"line {lineno}: {len(row)} fields; expected 2 (time,temp_c)")
        try:
            ts = parse_time(row[0])
        except ValueError as exc:
            raise CsvError(f"line {lineno}, field time: {exc}") from None
        try:
            value = float(row[1])
        except ValueError:
            raise CsvError(f"line {lineno}, field temp_c: {row[1]!r} is not a number") from None
        if not math.isfinite(value) or value <= -273.15:
            raise CsvError(
                f"line {lineno}, field temp_c: {row[1]!r} is not a finite temperature "
                "above absolute zero"
            )
        if ts in out:
            raise CsvError(f"line {lineno}, field time: {row[0].strip()!r} appears twice")
        out[ts] = value
        if len(out) > MAX_ROWS:
            raise CsvError(f"line {lineno}: more than {MAX_ROWS} readings; split the file")
    if not out:
        raise CsvError("no readings after the header")
    ts_sorted = sorted(out)
    return Series(ts_sorted, [out[t] for t in ts_sorted])


def csv_evidence(
    series: Series,
    *,
    low: float | None = None,
    high: float | None = None,
    poll_interval_s: float | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Evidence:
    """Evidence of a file's readings over [start, end): by default from the first
    reading to one poll interval after the last (each reading of a regular series then
    weighs one poll interval: the classic equal-weight MKT). The poll interval is the
    one the readings show (:func:`poll_interval_ms`) unless given."""
    if poll_interval_s is None:
        found = poll_interval_ms(series.ts_ms)
        poll_interval_s = found / 1000 if found else DEFAULT_POLL_S
    cap = hold_cap_ms(poll_interval_s)
    start = series.ts_ms[0] if start_ms is None else start_ms
    end = series.ts_ms[-1] + round(poll_interval_s * 1000) if end_ms is None else end_ms
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")
    inside = [(t, v) for t, v in zip(series.ts_ms, series.values, strict=True) if start <= t < end]
    before = [(t, v) for t, v in zip(series.ts_ms, series.values, strict=True) if t < start]
    s = stretch(
        [t for t, _ in inside], [v for _, v in inside], start, end, cap,
        prev=before[-1] if before else None, low=low, high=high,
    )  # fmt: skip
    return evidence_of(
        "csv", "temp_c", s, poll_interval_s=poll_interval_s, low=low, high=high,
        source="raw", mkt=True,
    )  # fmt: skip


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def summary(e: Evidence) -> dict[str, Any]:
    """The JSON both the command and the API answer."""
    return {
        "device": e.device,
        "metric": e.metric,
        "start": e.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "end": e.end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "n": e.n,
        "mkt_c": _r(e.mkt),
        "min_c": _r(e.min),
        "max_c": _r(e.max),
        "mean_c": _r(e.mean),
        "low_c": e.low,
        "high_c": e.high,
        "time_out_of_range_s": round(e.cumulative_excursion_s, 3),
        "seconds_below": round(e.seconds_below, 3),
        "seconds_above": round(e.seconds_above, 3),
        "longest_excursion_s": round(e.longest_excursion_s, 3),
        "uncertain_s": round(e.uncertain_s, 3),
        "covered_s": round(e.covered_s, 3),
        "coverage": round(e.coverage, 6),
        "poll_interval_s": e.poll_interval_s,
        "source": e.source,
        "delta_h_over_r_k": 10_000,
    }
