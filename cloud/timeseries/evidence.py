"""Sensor evidence of one device's metric over an interval, on either store
(:meth:`cloud.timeseries.base.TimeSeriesStore.evidence`).

The interval is cut at clock hours, and each hour is answered one of three ways:

- **raw**: the readings in it (and the last one before it, which may hold into it),
  weighed by :mod:`cloud.timeseries.kinetics`;
- **checked roll-ups** (``source="auto"`` while raw data exists, given the roll-up state):
  the 1-h roll-up for a whole hour, the 1-min roll-ups for the whole minutes of a partial
  hour, raw for the partial minutes at the interval's ends. Used only where they add up
  to the raw computation: the hour is not marked for recomputation (nor the hour before
  it, whose last reading may hold into it), its roll-ups were weighed with the hold cap
  asked for, and its held range does not straddle ``low``/``high`` (such an hour is read
  raw, so excursions stay exact). Anything else is read raw. The answer is then the raw
  answer (``source="raw"``), only faster: raw 1 Hz data is 172,800 readings per 48 h;
- **roll-ups** (raw data expired, or ``source="rollup"``): whole hours and minutes from
  the roll-ups as they are, an hour whose range straddles a limit from its 1-min
  windows (excursions known to the minute, as upper bounds), the partial minutes at the
  ends from raw data where it still exists (else they are gaps).

Raw data is taken to exist from the start of the first whole hour inside raw retention
(:data:`cloud.timeseries.windows.RAW_RETENTION_DAYS`). Each store answers all the reads
of one pass in one request (:meth:`TimeSeriesStore.evidence_reads`); a second pass reads
raw what the roll-ups could not answer exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from cloud.timeseries.kinetics import (
    Evidence,
    Reading,
    Stretch,
    combine,
    evidence_of,
    hold_cap_ms,
    stretch,
    window_outside,
)
from cloud.timeseries.rollup_sums import RollupWindow, rollup_window
from cloud.timeseries.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    RAW_RETENTION_DAYS,
    is_temperature,
)
from protocol.ids import check_metric

if TYPE_CHECKING:
    from cloud.timeseries.base import Counties, TimeSeriesStore
    from cloud.timeseries.rollup import RollupState

SourceAsked = Literal["auto", "raw", "rollup"]
Span = tuple[int, int]
#: ``(measurement, devices, start_ms, end_ms, counties) -> RollupState``, as
#: :data:`cloud.timeseries.query.RollupStateOf` (``partial(rollup_state, session)``).
RollupStateOf = Callable[[str, Sequence[str], int, int, "Counties"], Awaitable["RollupState"]]


@dataclass(frozen=True, slots=True)
class EvidenceReads:
    """What one pass reads of one device's metric: raw readings in each ``raw`` span;
    for each ``(before, lookback)`` of ``prev``, the last reading in [before − lookback,
    before); the roll-up windows (1 min or 1 h) starting in each span of ``rollups``."""

    raw: tuple[Span, ...] = ()
    prev: tuple[tuple[int, int], ...] = ()
    rollups: tuple[tuple[Literal["1m", "1h"], Span], ...] = ()


@dataclass(slots=True)
class EvidenceData:
    """The answers, in the order asked: ``(timestamps, values)`` per raw span, the
    previous reading (or None) per ``prev``, ``{window start: {part: value}}`` per
    roll-up span (parts: :data:`cloud.timeseries.rollup_sums.EVIDENCE_PARTS`, merged over
    the counties read: additive parts added, ranges widened, differing holds -1)."""

    raw: list[tuple[list[int], list[float]]] = field(default_factory=list)
    prev: list[Reading | None] = field(default_factory=list)
    rollups: list[dict[int, dict[str, float]]] = field(default_factory=list)


ADDITIVE = frozenset({"count", "w", "wsum", "wmkt", "sum", "mkt"})


def merge_window_parts(into: dict[str, float], more: Mapping[str, float]) -> None:
    """Fold another series' parts of the same window (a device read under two
    counties) into ``into``."""
    for part, value in more.items():
        old = into.get(part)
        if old is None:
            into[part] = value
        elif part in ADDITIVE:
            into[part] = old + value
        elif part in ("min", "wmin"):
            into[part] = min(old, value)
        elif part in ("max", "wmax"):
            into[part] = max(old, value)
        elif part == "hold" and old != value:
            into[part] = -1.0


def to_ms(t: int | datetime, name: str) -> int:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError(f"{name}: give a time zone (naive datetime {t.isoformat()})")
        return round(t.timestamp() * 1000)
    if isinstance(t, bool) or not isinstance(t, int):
        raise ValueError(f"{name}: {t!r} is neither epoch milliseconds nor a datetime")
    return t


@dataclass(slots=True)
class _Seg:
    """One piece of the interval: ``kind`` raw / 1h / 1m, [a, b), the hour it is in,
    and whether roll-ups in it are checked (must equal raw) or trusted (stand in)."""

    kind: Literal["raw", "1h", "1m"]
    a: int
    b: int
    hour: int
    checked: bool = False
    windows: dict[int, RollupWindow] = field(default_factory=dict)
    readings: tuple[list[int], list[float]] = field(default_factory=lambda: ([], []))
    prev: Reading | None = None
    read: bool = False


async def evidence(
    store: TimeSeriesStore,
    device: str,
    metric: str,
    start: int | datetime,
    end: int | datetime,
    *,
    counties: Counties,
    poll_interval_s: float,
    low: float | None = None,
    high: float | None = None,
    measurement: str | None = None,
    source: SourceAsked = "auto",
    rollups: RollupStateOf | None = None,
    now_ms: int | None = None,
) -> Evidence:
    check_metric(metric)
    a, b = to_ms(start, "start"), to_ms(end, "end")
    if b <= a:
        raise ValueError(f"end: {b} must be after start {a}")
    cap = hold_cap_ms(poll_interval_s)
    for name, bound in (("low", low), ("high", high)):
        if bound is not None and not math.isfinite(bound):
            raise ValueError(f"{name}: {bound} is not a finite number")
    if low is not None and high is not None and low > high:
        raise ValueError(f"low: {low} is above high {high}")
    if source not in ("auto", "raw", "rollup"):
        raise ValueError(f"source: {source!r} is not one of auto, raw, rollup")
    mkt = is_temperature(metric)

    def answer(s: Stretch, used_rollups: bool) -> Evidence:
        return evidence_of(
            device,
            metric,
            s,
            poll_interval_s=poll_interval_s,
            low=low,
            high=high,
            source="rollup" if used_rollups else "raw",
            mkt=mkt,
        )

    if counties is not None and not counties:
        return answer(Stretch(a, b), False)
    if measurement is None:
        measurement = await store.measurement_of(device, counties=counties)
        if measurement is None:  # no reading of this device anywhere
            return answer(Stretch(a, b), source == "rollup")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    horizon = -(-(now - RAW_RETENTION_DAYS * DAY_MS) // HOUR_MS) * HOUR_MS
    stale: set[int] = set()
    if source == "auto" and rollups is not None:
        state = await rollups(measurement, [device], a - HOUR_MS, b, counties)
        for h in state.pending.get(device, ()):
            stale.update((h, h + HOUR_MS))

    def mode(h: int) -> Literal["raw", "checked", "trusted"]:
        if source == "raw":
            return "raw"
        if source == "rollup" or h + HOUR_MS <= horizon:
            return "trusted"
        return "checked" if rollups is not None and h not in stale else "raw"

    segs: list[_Seg] = []
    trusted_used = False
    for h in range(a // HOUR_MS * HOUR_MS, b, HOUR_MS):
        x, y = max(a, h), min(b, h + HOUR_MS)
        m = mode(h)
        if m == "raw":
            segs.append(_Seg("raw", x, y, h))
            continue
        trusted_used |= m == "trusted"
        segs.extend(_rollup_segs(x, y, h, m == "checked"))

    # read, then refine what the roll-ups cannot answer as asked, and read that: at
    # most three passes (hours; minutes of hours crossing a limit; raw minutes)
    read = _Reader(store, measurement, device, metric, counties, cap)
    first = True
    while todo := [s for s in segs if not s.read]:
        await read.fill(todo, with_hours=first)
        first = False
        segs = _coalesce([piece for s in segs for piece in _refine(s, read.hours, cap, low, high)])

    pieces = [_stretch(s, read.hours, cap, low, high, mkt) for s in segs]
    whole = combine(pieces) or Stretch(a, b)
    return answer(whole, trusted_used)


def _rollup_segs(x: int, y: int, h: int, checked: bool) -> list[_Seg]:
    """[x, y) of hour h from roll-ups: the hour's window when whole, else the whole
    minutes from 1-min windows and the partial minutes raw."""
    if x == h and y == h + HOUR_MS:
        return [_Seg("1h", x, y, h, checked)]
    mx = -(-x // MINUTE_MS) * MINUTE_MS
    my = y // MINUTE_MS * MINUTE_MS
    if mx >= my:
        return [_Seg("raw", x, y, h, checked)]
    out = []
    if x < mx:
        out.append(_Seg("raw", x, mx, h, checked))
    out.append(_Seg("1m", mx, my, h, checked))
    if my < y:
        out.append(_Seg("raw", my, y, h, checked))
    return out


def _refine(
    s: _Seg, hours: Mapping[int, RollupWindow], cap_ms: int, low: float | None, high: float | None
) -> list[_Seg]:
    """A segment just read, or what must be read instead. Checked roll-ups that would not
    equal the raw computation (made with another hold cap, or straddling a limit, where
    the time outside would be a bound) give way: an hour to its minutes, a minute to its
    raw readings. Trusted hours straddling a limit give way to their minutes."""
    if s.kind == "raw":
        return [s]
    window = hours.get(s.hour)
    if s.checked and window is not None and window.hold_ms != cap_ms:
        return [_Seg("raw", s.a, s.b, s.hour, True)]
    if s.kind == "1h":
        if window is not None and _straddles(window, low, high):
            return [_Seg("1m", s.a, s.b, s.hour, s.checked)]
        return [s]
    if not s.checked:
        return [s]
    if window is None and s.windows:  # minutes without their hour: not the job's
        return [_Seg("raw", s.a, s.b, s.hour, True)]
    out: list[_Seg] = []
    cursor = s.a
    for w in sorted(s.windows):
        minute = s.windows[w]
        if minute.hold_ms == cap_ms and not _straddles(minute, low, high):
            continue
        if w > cursor:
            out.append(_minutes(s, cursor, w))
        out.append(_Seg("raw", w, w + MINUTE_MS, s.hour, True))
        cursor = w + MINUTE_MS
    if not out:
        return [s]
    if cursor < s.b:
        out.append(_minutes(s, cursor, s.b))
    return out


def _minutes(s: _Seg, a: int, b: int) -> _Seg:
    """The part [a, b) of a 1-min segment already read."""
    windows = {w: m for w, m in s.windows.items() if a <= w < b}
    return _Seg("1m", a, b, s.hour, s.checked, windows, read=True)


def _coalesce(segs: list[_Seg]) -> list[_Seg]:
    """Adjacent raw segments still to read, as one."""
    out: list[_Seg] = []
    for s in segs:
        last = out[-1] if out else None
        if (
            last is not None
            and s.kind == last.kind == "raw"
            and not s.read
            and not last.read
            and last.b == s.a
        ):
            last.b = s.b
        else:
            out.append(s)
    return out


def _straddles(window: RollupWindow, low: float | None, high: float | None) -> bool:
    """Whether the window's held range crosses a limit (part in, part out)."""
    o = window_outside(window.stats, low, high)
    return o.uncertain_s > 0


class _Reader:
    """Reads the segments' data in one request per pass."""

    def __init__(
        self,
        store: TimeSeriesStore,
        measurement: str,
        device: str,
        metric: str,
        counties: Counties,
        cap_ms: int,
    ) -> None:
        self.store = store
        self.measurement = measurement
        self.device = device
        self.metric = metric
        self.counties = counties
        self.cap_ms = cap_ms
        self.poll_interval_s = cap_ms / 2000.0
        self.hours: dict[int, RollupWindow] = {}

    async def fill(self, segs: Sequence[_Seg], *, with_hours: bool) -> None:
        raw = [s for s in segs if s.kind == "raw"]
        minutes = [s for s in segs if s.kind == "1m"]
        hour_spans: list[Span] = []
        if with_hours:
            for h in sorted({s.hour for s in segs if s.kind != "raw" or s.checked}):
                if hour_spans and hour_spans[-1][1] == h:
                    hour_spans[-1] = (hour_spans[-1][0], h + HOUR_MS)
                else:
                    hour_spans.append((h, h + HOUR_MS))
        reads = EvidenceReads(
            raw=tuple((s.a, s.b) for s in raw),
            prev=tuple((s.a, self.cap_ms) for s in raw),
            rollups=(
                *(("1h", span) for span in hour_spans),
                *(("1m", (s.a, s.b)) for s in minutes),
            ),
        )
        data = await self.store.evidence_reads(
            self.measurement, self.device, self.metric, reads, counties=self.counties
        )
        for s in segs:
            s.read = True
        for s, readings, prev in zip(raw, data.raw, data.prev, strict=True):
            s.readings, s.prev = readings, prev
        got = iter(data.rollups)
        for _ in hour_spans:
            for w, parts in next(got).items():
                window = rollup_window(parts, HOUR_MS, self.poll_interval_s)
                if window is not None:
                    self.hours[w] = window
        for s in minutes:
            for w, parts in next(got).items():
                window = rollup_window(parts, MINUTE_MS, self.poll_interval_s)
                if window is not None:
                    s.windows[w] = window


def _stretch(
    s: _Seg,
    hours: Mapping[int, RollupWindow],
    cap_ms: int,
    low: float | None,
    high: float | None,
    mkt: bool,
) -> Stretch:
    """The sums of one segment: its raw readings weighed, or its roll-up windows (and
    the gaps between them) added up."""
    if s.kind == "raw":
        ts, vs = s.readings
        return stretch(ts, vs, s.a, s.b, cap_ms, prev=s.prev, low=low, high=high, mkt=mkt)
    windows = {s.a: hours[s.a]} if s.kind == "1h" and s.a in hours else s.windows
    step = HOUR_MS if s.kind == "1h" else MINUTE_MS
    pieces: list[Stretch] = []
    cursor = s.a
    for w in sorted(windows):
        if w < s.a or w >= s.b:
            continue
        if w > cursor:  # no window: a gap, answered by the roll-ups all the same
            pieces.append(Stretch(cursor, w, rollup_s=(w - cursor) / 1000.0))
        window = windows[w]
        exact = window.hold_ms == cap_ms
        pieces.append(
            Stretch(
                w,
                w + step,
                window.stats,
                window_outside(window.stats, low, high),
                0.0 if exact else window.stats.weight_s,
                step / 1000.0,
            )
        )
        cursor = w + step
    if cursor < s.b:
        pieces.append(Stretch(cursor, s.b, rollup_s=(s.b - cursor) / 1000.0))
    return combine(pieces) or Stretch(s.a, s.b)
