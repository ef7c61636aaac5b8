"""Sensor evidence arithmetic, pure: duration weighting, mean kinetic temperature,
excursions and coverage. Trace (custody evidence), cold chain and the brand rules share
these functions; the roll-up job stores the same sums per window, so evidence still
comes out of the roll-ups once raw data has expired.

**Weighting (the held signal).** A reading holds its value from its timestamp until the
next reading, for at most the *hold cap* (2x the poll interval, never more than
:data:`HOLD_MAX_MS`); past the cap, until the next reading, is a gap. A gap weighs
nothing and counts against coverage. Over a stretch of time [start, end), each reading
weighs the part of its hold inside the stretch:

- a reading in the stretch weighs ``min(next, t + cap, end) - t``: the last one weighs up
  to the stretch's end (capped likewise), so no reading after the end is needed;
- the last reading *before* the stretch weighs the part of its hold past ``start``
  (``min(first, t_prev + cap, end) - start``), so the beginning of a stretch is not a
  gap when a reading holds into it.

This is the integral of the held signal over [start, end), so it splits exactly: the
sums of [a, m) and [m, b) add up to those of [a, b) for any m (the property tests check
it), which is what makes the roll-ups exact (:func:`window_stats` is the same integral
per window).

**Mean kinetic temperature** (USP <1160>, duration-weighted)::

    MKT = (ΔH/R) / -ln( Σ(exp(-ΔH/RT)·Δt) / ΣΔt ) - 273.15,   ΔH/R = 10 000 K

**Excursions.** Time outside [low, high] (either bound may be None) is weighed like
everything else. An excursion is a run of held time outside the range; a reading inside
the range ends it, a gap does not (a gap adds no seconds: it is shown as missing
coverage, never as compliant nor as outside). :class:`Outside` is associative, so the
longest single excursion and the cumulative time outside combine over stretches too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import compress, pairwise
from operator import mul, ne, or_, sub
from typing import Literal

#: ΔH/R of USP <1160> mean kinetic temperature, kelvin.
DELTA_H_OVER_R = 10_000.0
KELVIN = 273.15
#: The longest a reading can hold: a poll interval above 30 min is capped to this, so a
#: reading holds into the next clock hour at most (the roll-up job recomputes the hour
#: after each hour it recomputes, for that reason).
HOLD_MAX_MS = 3_600_000

#: ``(ts_ms, value)``
Reading = tuple[int, float]
Source = Literal["raw", "rollup"]


def hold_cap_ms(poll_interval_s: float) -> int:
    """The hold cap of a poll interval: 2x it, at most :data:`HOLD_MAX_MS`, in ms."""
    if not (isinstance(poll_interval_s, int | float) and math.isfinite(poll_interval_s)):
        raise ValueError(f"poll_interval_s: {poll_interval_s!r} is not a finite number")
    if poll_interval_s <= 0:
        raise ValueError(f"poll_interval_s: {poll_interval_s} must be > 0 seconds")
    return min(max(1, round(2_000 * poll_interval_s)), HOLD_MAX_MS)


def arrhenius(celsius: float, delta_h_over_r: float = DELTA_H_OVER_R) -> float:
    """exp(−ΔH/RT) of a temperature in °C."""
    kelvin = celsius + KELVIN
    if kelvin <= 0:
        raise ValueError(f"temperature {celsius} °C is at or below absolute zero")
    return math.exp(-delta_h_over_r / kelvin)


def mkt_from_sums(
    arrhenius_sum: float, weight_s: float, delta_h_over_r: float = DELTA_H_OVER_R
) -> float | None:
    """MKT (°C) from Σ(exp(−ΔH/RT)·Δt) and ΣΔt; None when nothing weighs."""
    if weight_s <= 0 or arrhenius_sum <= 0:
        return None
    return delta_h_over_r / -math.log(arrhenius_sum / weight_s) - KELVIN


def mkt_c(
    samples: Iterable[tuple[float, float]], delta_h_over_r: float = DELTA_H_OVER_R
) -> float | None:
    """Duration-weighted mean kinetic temperature (°C) of ``(celsius, weight_s)`` samples
    (USP <1160>); None when nothing weighs. Equal weights give the classic formula."""
    arr: list[float] = []
    total = 0.0
    for celsius, weight in samples:
        if weight < 0:
            raise ValueError(f"weight {weight} s of a sample must be >= 0")
        if weight:
            arr.append(arrhenius(celsius, delta_h_over_r) * weight)
            total += weight
    return mkt_from_sums(math.fsum(arr), total, delta_h_over_r)


#: Poll intervals (ms) a cadence is rounded to (:func:`poll_interval_ms`).
POLL_STEPS_MS = (
    100, 200, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 15_000, 20_000, 30_000,
    60_000, 120_000, 180_000, 300_000, 600_000, 900_000, 1_200_000, 1_800_000,
)  # fmt: skip


def nominal_interval_ms(ts: Sequence[int]) -> int | None:
    """The cadence of readings at ``ts`` (ascending): the lower decile of the intervals
    between consecutive readings (a poll schedule's interval, however many polls were
    lost); None with fewer than two readings."""
    gaps = sorted(b - a for a, b in pairwise(ts) if b > a)
    if not gaps:
        return None
    return gaps[(len(gaps) - 1) // 10]


def poll_interval_ms(ts: Sequence[int]) -> int | None:
    """The poll interval readings at ``ts`` were taken with, as far as they tell: their
    cadence rounded to the nearest (by ratio) of :data:`POLL_STEPS_MS`, so jitter and
    early polls do not move it (a 10 s poll sampled at 9.7-10.3 s is 10 s). The roll-up
    job weighs each hour with it; evidence asked for that poll interval is then exact
    from the roll-ups."""
    nominal = nominal_interval_ms(ts)
    if nominal is None:
        return None
    return min(POLL_STEPS_MS, key=lambda p: abs(math.log(p / nominal)))


def held(
    ts: Sequence[int],
    values: Sequence[float],
    start_ms: int,
    end_ms: int,
    cap_ms: int,
    prev: Reading | None = None,
) -> tuple[list[float], list[int]]:
    """The held signal over [start, end): ``(values, weights in ms)`` of the readings that
    weigh in it, in time order: ``prev`` (the last reading before ``start``) first when
    its hold reaches past ``start``, then every reading of ``ts`` (ascending, all in
    [start, end)); a reading's weight is 0 only when the cap is."""
    if ts and (ts[0] < start_ms or ts[-1] >= end_ms):
        raise ValueError(f"readings must lie in [{start_ms}, {end_ms}) and be in time order")
    nxt = list(ts[1:])
    if ts:
        nxt.append(end_ms)
    weights = [d if d < cap_ms else cap_ms for d in map(sub, nxt, ts)]
    vs = list(values)
    if prev is not None and cap_ms > 0:
        t_prev, v_prev = prev
        if t_prev >= start_ms:
            raise ValueError(f"prev reading at {t_prev} is not before {start_ms}")
        hold_end = min(ts[0] if ts else end_ms, t_prev + cap_ms, end_ms)
        if hold_end > start_ms:
            vs.insert(0, v_prev)
            weights.insert(0, hold_end - start_ms)
    return vs, weights


@dataclass(slots=True)
class Stats:
    """The additive, threshold-free sums of one stretch of one series: what a roll-up
    window holds (fields ``_count``, ``_w``, ``_wsum``, ``_wmkt``, ``_wmin``, ``_wmax``).
    ``lo``/``hi`` are the range of the held values that weigh (±inf when none)."""

    n: int = 0
    weight_s: float = 0.0
    weighted: float = 0.0
    arrhenius: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf

    def merge(self, other: Stats) -> None:
        self.n += other.n
        self.weight_s += other.weight_s
        self.weighted += other.weighted
        self.arrhenius += other.arrhenius
        self.lo = min(self.lo, other.lo)
        self.hi = max(self.hi, other.hi)

    @property
    def mean(self) -> float | None:
        return self.weighted / self.weight_s if self.weight_s > 0 else None

    def mkt(self, delta_h_over_r: float = DELTA_H_OVER_R) -> float | None:
        return mkt_from_sums(self.arrhenius, self.weight_s, delta_h_over_r)


def stats(values: Sequence[float], weights_ms: Sequence[int], n: int, *, mkt: bool) -> Stats:
    """Stats of a held signal (:func:`held`); ``n`` readings were taken in the stretch;
    Σ(exp(−ΔH/RT)·Δt) only when ``mkt`` (temperatures)."""
    if not weights_ms:
        return Stats(n=n)
    weight = sum(weights_ms)
    weighted = math.fsum(map(mul, values, weights_ms)) / 1000.0
    arr = 0.0
    if mkt:
        if min(values) <= -KELVIN:
            raise ValueError(f"temperature {min(values)} °C is at or below absolute zero")
        k = -DELTA_H_OVER_R
        exps = [math.exp(k / (v + KELVIN)) for v in values]
        arr = math.fsum(map(mul, exps, weights_ms)) / 1000.0
    if all(weights_ms):
        lo, hi = min(values), max(values)
    else:
        kept = list(compress(values, weights_ms))
        lo, hi = (min(kept), max(kept)) if kept else (math.inf, -math.inf)
    return Stats(n, weight / 1000.0, weighted, arr, lo, hi)


@dataclass(frozen=True, slots=True)
class Outside:
    """Time outside a range over a stretch, combinable over consecutive stretches
    (``earlier + later``). ``head_s``/``tail_s``: outside seconds before the first /
    after the last in-range moment (the whole outside time when ``broken`` is false: no
    in-range moment at all); ``longest_s``: the longest single excursion;
    ``outside_s``: the cumulative time outside. From roll-ups these are upper bounds
    and ``uncertain_s`` says how much of ``outside_s`` is only possibly outside."""

    below_s: float = 0.0
    above_s: float = 0.0
    outside_s: float = 0.0
    uncertain_s: float = 0.0
    head_s: float = 0.0
    tail_s: float = 0.0
    longest_s: float = 0.0
    broken: bool = False

    def __add__(self, later: Outside) -> Outside:
        return Outside(
            self.below_s + later.below_s,
            self.above_s + later.above_s,
            self.outside_s + later.outside_s,
            self.uncertain_s + later.uncertain_s,
            self.head_s if self.broken else self.head_s + later.head_s,
            later.tail_s if later.broken else self.tail_s + later.tail_s,
            max(self.longest_s, later.longest_s, self.tail_s + later.head_s),
            self.broken or later.broken,
        )


def _check_range(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"low {low} is above high {high}")


def time_outside(
    values: Sequence[float], weights_ms: Sequence[int], low: float | None, high: float | None
) -> Outside:
    """Exact time outside [low, high] of a held signal (:func:`held`)."""
    _check_range(low, high)
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    below = [v < lo for v in values]
    above = [v > hi for v in values]
    if not (any(below) or any(above)):
        return Outside(broken=any(weights_ms))
    below_ms = sum(compress(weights_ms, below))
    above_ms = sum(compress(weights_ms, above))
    # runs: outside readings in a row (readings that weigh nothing are skipped; an
    # in-range reading that weighs ends the run); found where the flag changes
    flags = list(map(or_, below, above))
    weights = list(weights_ms)
    if not all(weights):
        flags = list(compress(flags, weights))
        weights = list(compress(weights, weights))
    n = len(flags)
    cuts = [0, *compress(range(1, n), map(ne, flags[1:], flags[:-1])), n]
    runs = [(flags[i], sum(weights[i:j])) for i, j in pairwise(cuts) if j > i]
    outside_runs = [w for out, w in runs if out]
    head = runs[0][1] if runs and runs[0][0] else 0
    tail = runs[-1][1] if runs and runs[-1][0] else 0
    broken = any(not out for out, _ in runs)
    return Outside(
        below_ms / 1000.0,
        above_ms / 1000.0,
        (below_ms + above_ms) / 1000.0,
        0.0,
        head / 1000.0,
        tail / 1000.0,
        max(outside_runs, default=0) / 1000.0,
        broken,
    )


def window_outside(st: Stats, low: float | None, high: float | None) -> Outside:
    """Time outside [low, high] of a window known only by its :class:`Stats` (a
    roll-up): none when its held range is inside, all of it when its range lies wholly
    outside, and all of it as *uncertain* when the range straddles a bound (an upper
    bound: a compliance decision never passes on a guess)."""
    _check_range(low, high)
    if st.weight_s <= 0:
        return Outside()
    maybe_below = low is not None and st.lo < low
    maybe_above = high is not None and st.hi > high
    if not (maybe_below or maybe_above):
        return Outside(broken=True)
    certain = (low is not None and st.hi < low) or (high is not None and st.lo > high)
    w = st.weight_s
    return Outside(
        w if maybe_below else 0.0,
        w if maybe_above else 0.0,
        w,
        0.0 if certain else w,
        w,
        w,
        w,
        False,
    )


@dataclass(slots=True)
class Stretch:
    """The evidence sums of [start, end) of one series; consecutive stretches combine
    with ``+``. ``approx_s``: seconds answered by roll-ups whose weighting is not the one
    asked for (made with another hold cap, or before the weighted sums existed);
    ``rollup_s``: seconds answered by roll-ups at all."""

    start_ms: int
    end_ms: int
    stats: Stats = field(default_factory=Stats)
    outside: Outside = field(default_factory=Outside)
    approx_s: float = 0.0
    rollup_s: float = 0.0

    def __add__(self, later: Stretch) -> Stretch:
        if later.start_ms != self.end_ms:
            raise ValueError(f"stretches must be consecutive: {self.end_ms} then {later.start_ms}")
        st = Stats()
        st.merge(self.stats)
        st.merge(later.stats)
        return Stretch(
            self.start_ms,
            later.end_ms,
            st,
            self.outside + later.outside,
            self.approx_s + later.approx_s,
            self.rollup_s + later.rollup_s,
        )


def stretch(
    ts: Sequence[int],
    values: Sequence[float],
    start_ms: int,
    end_ms: int,
    cap_ms: int,
    *,
    prev: Reading | None = None,
    low: float | None = None,
    high: float | None = None,
    mkt: bool = True,
) -> Stretch:
    """The evidence sums of raw readings over [start, end) (``ts`` ascending, in the
    stretch; ``prev`` the last reading before it, if any within the cap)."""
    if end_ms < start_ms:
        raise ValueError(f"end {end_ms} is before start {start_ms}")
    vs, ws = held(ts, values, start_ms, end_ms, cap_ms, prev)
    return Stretch(
        start_ms, end_ms, stats(vs, ws, len(ts), mkt=mkt), time_outside(vs, ws, low, high)
    )


def combine(stretches: Iterable[Stretch]) -> Stretch | None:
    """Consecutive stretches (in time order) as one; None when there are none."""
    out: Stretch | None = None
    for s in stretches:
        out = s if out is None else out + s
    return out


def window_stats(
    ts: Sequence[int],
    values: Sequence[float],
    start_ms: int,
    end_ms: int,
    every_ms: int,
    cap_ms: int,
    *,
    prev: Reading | None = None,
    mkt: bool = True,
) -> dict[int, Stats]:
    """The held signal's :class:`Stats` per window of ``every_ms`` over [start, end)
    (both multiples of ``every_ms``): the integral of :func:`stretch` cut at each window
    boundary, so any run of windows adds up to the stretch over them. Windows with no
    reading and no weight are absent."""
    if start_ms % every_ms or end_ms % every_ms:
        raise ValueError(f"[{start_ms}, {end_ms}) is not aligned to windows of {every_ms} ms")
    vs, ws = held(ts, values, start_ms, end_ms, cap_ms, prev)
    starts = list(ts)
    if len(vs) > len(ts):  # prev held into the first window: its piece starts at start
        starts.insert(0, start_ms)
    pieces: dict[int, tuple[list[float], list[int], int]] = {}
    for t in ts:
        w = t - t % every_ms
        piece = pieces.setdefault(w, ([], [], 0))
        pieces[w] = (piece[0], piece[1], piece[2] + 1)
    for t, v, weight in zip(starts, vs, ws, strict=True):
        while weight > 0:
            w = t - t % every_ms
            part = min(weight, w + every_ms - t)
            piece = pieces.setdefault(w, ([], [], 0))
            piece[0].append(v)
            piece[1].append(part)
            t += part
            weight -= part
    return {w: stats(v, p, n, mkt=mkt) for w, (v, p, n) in sorted(pieces.items())}


def coverage(covered_s: float, start_ms: int, end_ms: int) -> float:
    """The share of [start, end) that has data (weighted seconds / its length)."""
    length = (end_ms - start_ms) / 1000.0
    return min(1.0, covered_s / length) if length > 0 else 0.0


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Sensor evidence of one device's metric over [start, end).

    ``n``: readings taken in the interval. ``min``/``max``: range of the held values
    that weigh. ``mean`` and ``mkt`` (temperatures only) are duration-weighted.
    ``seconds_below``/``seconds_above``/``cumulative_excursion_s``/``longest_excursion_s``:
    time outside [low, high] (0 without a range); exact from raw, upper bounds from
    roll-ups, of which ``uncertain_s`` is only possibly outside. ``coverage`` =
    ``covered_s`` / the interval's length: gaps count against it. ``source``: "raw" when
    the figures are those of the raw readings (read raw, or from roll-ups that are current
    and made with the same weighting, which add up to the same), "rollup" when roll-ups
    stood in for raw data (expired, or asked for). ``approx_s``: seconds answered by
    roll-ups made with another weighting (see :class:`Stretch`)."""

    device: str
    metric: str
    start: datetime
    end: datetime
    n: int
    min: float | None
    max: float | None
    mean: float | None
    mkt: float | None
    seconds_below: float
    seconds_above: float
    cumulative_excursion_s: float
    longest_excursion_s: float
    uncertain_s: float
    covered_s: float
    coverage: float
    poll_interval_s: float
    low: float | None
    high: float | None
    source: Source
    approx_s: float = 0.0
    rollup_s: float = 0.0

    @property
    def start_ms(self) -> int:
        return round(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return round(self.end.timestamp() * 1000)


def evidence_of(
    device: str,
    metric: str,
    s: Stretch,
    *,
    poll_interval_s: float,
    low: float | None,
    high: float | None,
    source: Source,
    mkt: bool,
) -> Evidence:
    st = s.stats
    return Evidence(
        device=device,
        metric=metric,
        start=utc(s.start_ms),
        end=utc(s.end_ms),
        n=st.n,
        min=st.lo if st.weight_s > 0 else None,
        max=st.hi if st.weight_s > 0 else None,
        mean=st.mean,
        mkt=st.mkt() if mkt else None,
        seconds_below=s.outside.below_s,
        seconds_above=s.outside.above_s,
        cumulative_excursion_s=s.outside.outside_s,
        longest_excursion_s=s.outside.longest_s,
        uncertain_s=s.outside.uncertain_s,
        covered_s=st.weight_s,
        coverage=coverage(st.weight_s, s.start_ms, s.end_ms),
        poll_interval_s=poll_interval_s,
        low=low,
        high=high,
        source=source,
        approx_s=s.approx_s,
        rollup_s=s.rollup_s,
    )
