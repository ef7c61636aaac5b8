"""The timestamp sanity window: not in the future beyond a small skew, not older
than raw retention. Applied per reading, so one bad clock does not cost the good
readings beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import DataBatch, Series


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str  # "timestamp_future" | "timestamp_old"
    field: str  # e.g. "series[0].t0" or "series[0].dt[12]"
    reason: str
    series_index: int
    indices: tuple[int, ...]  # positions within the series that are refused


def check_series(
    index: int, series: Series, now_ms: int, limits: Limits = DEFAULT_LIMITS
) -> list[Rejection]:
    """Which timestamps of one series fall outside the window, grouped by cause."""
    newest = now_ms + limits.max_future_skew_ms
    oldest = now_ms - limits.raw_retention_ms
    if oldest <= series.t0 and series.last_ts() <= newest:
        return []  # the common case, no per-reading work
    ts = series.timestamps()
    future = tuple(i for i, t in enumerate(ts) if t > newest)
    old = tuple(i for i, t in enumerate(ts) if t < oldest)
    out: list[Rejection] = []
    where = "t0" if isinstance(series.dt, int) else "t0/dt"
    if future:
        out.append(
            Rejection(
                "timestamp_future",
                f"series[{index}].{where}",
                f"{len(future)} reading time(s) from {iso(ts[future[0]])} are in the future "
                f"(now {iso(now_ms)}, allowed skew {limits.max_future_skew_ms // 1000} s); "
                "check the gateway clock",
                index,
                future,
            )
        )
    if old:
        out.append(
            Rejection(
                "timestamp_old",
                f"series[{index}].{where}",
                f"{len(old)} reading time(s) from {iso(ts[old[0]])} are older than raw retention "
                f"({limits.raw_retention_ms // 86_400_000} days)",
                index,
                old,
            )
        )
    return out


def check_batch(batch: DataBatch, now_ms: int, limits: Limits = DEFAULT_LIMITS) -> list[Rejection]:
    out: list[Rejection] = []
    for i, series in enumerate(batch.series):
        out.extend(check_series(i, series, now_ms, limits))
    return out
