"""The excursion engine's arithmetic, pure: readings in, excursions out.

Every reading holds its value until the next, at most the hold cap (2x the poll
interval, :mod:`cloud.timeseries.kinetics`); past the cap is a gap that weighs
nothing. A reading masked by a defrost (schedule or coil signal, plus the recovery
time) neither starts, extends nor ends an excursion.

An excursion starts at the first unmasked reading outside the range and ends at the
first unmasked reading back inside by the hysteresis. Its ``duration_s`` is the held
time of its readings (gaps excluded, as the evidence counts them). Then:

- shorter than ``min_duration_s``: noise, dropped once it has ended (while it goes
  on, it is not reported until it reaches the minimum);
- starting while a door is open, or within ``door_grace_s`` after a door closed, and
  no longer than ``door_spike_max_s``: ``kind="door"``, classed apart (no alarm, not
  in the cumulative time); longer: an excursion after all, ``door=True``;
- ``single_breach_ms``: the reading time at which it passed ``single_max_s``;
- ``cumulative_breach_ms``: the reading time at which the time outside in the
  trailing ``cumulative_window_s`` (excursions of kind ``excursion``, those before
  the evaluated stretch given as ``earlier``) passed ``cumulative_max_s``. The sum
  is taken over whole earlier excursions that end inside the trailing window at the
  start of this one (an earlier excursion that leaves the window during this one
  still counts: an upper bound, so a breach is never missed).

The result depends on the readings only, never on the order they arrived in: the
engine recomputes a stretch whenever late readings land in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from cloud.coldchain.rules import BEIJING_OFFSET_MS, DAY_MS, Rules

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Excursion:
    start_ms: int
    #: the first reading back in range; None while it goes on
    end_ms: int | None
    duration_s: float
    #: +1 above the range, -1 below
    direction: int
    #: the warmest (above) or coldest (below) reading
    peak_c: float
    kind: str  # "excursion" | "door"
    door: bool = False
    single_breach_ms: int | None = None
    cumulative_breach_ms: int | None = None
    #: the reading time at which it reached the minimum duration (its alarm's time)
    confirmed_ms: int = 0

    @property
    def ongoing(self) -> bool:
        return self.end_ms is None


def intervals_of(signal: Sequence[tuple[int, float]], cap_ms: int) -> list[Span]:
    """The spans a 0/1 signal (door open, defrosting) is on: from a reading of 1 to
    the next reading of 0 (at most the hold cap after the last reading of 1 when no 0
    follows in time: a lost "closed" does not mask forever)."""
    out: list[Span] = []
    on: int | None = None
    last_on = 0
    for t, v in signal:
        if v >= 0.5:
            if on is None:
                on = t
            last_on = t
        elif on is not None:
            out.append((on, t))
            on = None
    if on is not None:
        out.append((on, last_on + cap_ms))
    return out


def schedule_spans(rules: Rules, start_ms: int, end_ms: int) -> list[Span]:
    """The defrost windows of the schedule (Beijing days) overlapping [start, end)."""
    out: list[Span] = []
    if not rules.defrost_schedule:
        return out
    day = (start_ms + BEIJING_OFFSET_MS) // DAY_MS * DAY_MS - BEIJING_OFFSET_MS - DAY_MS
    while day < end_ms:
        for w in rules.defrost_schedule:
            s = day + w.offset_ms
            e = s + round(w.duration_s * 1000)
            if e > start_ms and s < end_ms:
                out.append((s, e))
        day += DAY_MS
    return sorted(out)


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def masks(
    rules: Rules, start_ms: int, end_ms: int, defrost: Sequence[tuple[int, float]] = ()
) -> list[Span]:
    """Masked spans: defrosts (schedule and coil) each with its recovery time."""
    rec = round(rules.defrost_recovery_s * 1000)
    spans = schedule_spans(rules, start_ms, end_ms) + intervals_of(defrost, rules.cap_ms)
    return _merge([(s, e + rec) for s, e in spans])


def _inside(t: int, spans: list[Span]) -> bool:
    return any(s <= t < e for s, e in spans)


def evaluate(
    ts: Sequence[int],
    values: Sequence[float],
    rules: Rules,
    *,
    end_ms: int | None = None,
    door: Sequence[tuple[int, float]] = (),
    defrost: Sequence[tuple[int, float]] = (),
    earlier: Sequence[Excursion] = (),
) -> list[Excursion]:
    """The excursions of readings ``ts``/``values`` (ascending). ``end_ms``: where the
    stretch ends (the last reading holds until then, at most the cap; default: one
    poll interval after it). ``door``/``defrost``: 0/1 signals; ``earlier``: the
    excursions before the stretch, for the cumulative limit."""
    if any(b <= a for a, b in pairwise(ts)):
        raise ValueError("readings must be in strictly ascending time order")
    if not ts:
        return []
    cap = rules.cap_ms
    last_end = ts[-1] + round(rules.poll_interval_s * 1000) if end_ms is None else end_ms
    masked = masks(rules, ts[0], last_end, defrost)
    doors = intervals_of(door, cap)
    grace = round(rules.door_grace_s * 1000)
    runs: list[tuple[int, int | None, float, int, float, list[tuple[int, int]]]] = []
    cur: list[object] | None = None  # [start, direction, weight_ms, peak, pieces]
    n = len(ts)
    for i in range(n):
        t, v = ts[i], values[i]
        nxt = ts[i + 1] if i + 1 < n else last_end
        w = max(0, min(nxt - t, cap))
        if masked and _inside(t, masked):
            continue
        if cur is None:
            d = rules.outside(v)
            if d:
                cur = [t, d, w, v, [(t, t + w)] if w else []]
            continue
        start, d, weight, peak, pieces = cur  # type: ignore[misc]
        if rules.back(v, d):  # type: ignore[arg-type]
            runs.append((start, t, weight / 1000, d, peak, pieces))  # type: ignore[arg-type]
            cur = None
            d2 = rules.outside(v)
            if d2:  # cannot happen (back() means inside), kept for clarity
                cur = [t, d2, w, v, [(t, t + w)]]
            continue
        cur[2] = weight + w  # type: ignore[operator]
        cur[3] = max(peak, v) if d > 0 else min(peak, v)  # type: ignore[call-overload,operator]
        if w:
            pieces.append((t, t + w))  # type: ignore[attr-defined]
    if cur is not None:
        start, d, weight, peak, pieces = cur  # type: ignore[misc]
        runs.append((start, None, weight / 1000, d, peak, pieces))  # type: ignore[arg-type]

    out: list[Excursion] = []
    window = round(rules.cumulative_window_s * 1000)
    counted: list[tuple[int, int, float]] = [
        (e.start_ms, e.end_ms or e.start_ms, e.duration_s) for e in earlier if e.kind == "excursion"
    ]
    for start, end, dur, d, peak, pieces in runs:
        if dur < rules.min_duration_s:
            continue
        confirmed = _time_at(pieces, rules.min_duration_s)
        near_door = any(s <= start <= e + grace for s, e in doors)
        kind = "door" if near_door and dur <= rules.door_spike_max_s else "excursion"
        single = None
        if kind == "excursion" and dur > rules.single_max_s:
            single = _time_at(pieces, rules.single_max_s, strict=True)
        cumulative = None
        if kind == "excursion":
            before = sum(w for s, e, w in counted if e > start - window and s < start)
            if before + dur > rules.cumulative_max_s:
                cumulative = _time_at(
                    pieces, max(0.0, rules.cumulative_max_s - before), strict=True
                )
            counted.append((start, end or start, dur))
        out.append(
            Excursion(
                start,
                end,
                dur,
                d,
                peak,
                kind,
                near_door,
                single,
                cumulative,
                confirmed if kind == "excursion" else start,
            )
        )
    return out


def _time_at(pieces: list[tuple[int, int]], seconds: float, *, strict: bool = False) -> int:
    """The reading time at which the held pieces add up to ``seconds`` (passed it,
    when ``strict``)."""
    need = seconds * 1000
    acc = 0.0
    for s, e in pieces:
        if acc + (e - s) > need or (not strict and acc + (e - s) >= need):
            return s + max(0, int(need - acc) + (1 if strict else 0))
        acc += e - s
    return pieces[-1][1] if pieces else 0
