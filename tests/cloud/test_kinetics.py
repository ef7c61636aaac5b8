"""The evidence arithmetic (cloud/timeseries/kinetics.py), pure: weighting, MKT,
excursions, coverage; property tests for the laws the roll-ups rest on (a constant
temperature's MKT is that temperature, MKT >= the weighted mean, and any split of an
interval adds up to the whole)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.timeseries.kinetics import (
    HOLD_MAX_MS,
    Outside,
    Stats,
    Stretch,
    combine,
    coverage,
    held,
    hold_cap_ms,
    mkt_c,
    nominal_interval_ms,
    poll_interval_ms,
    stretch,
    time_outside,
    window_outside,
    window_stats,
)
from cloud.timeseries.rollup_sums import cap_for, hour_sums, rollup_window

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z, an hour boundary

temps = st.floats(min_value=-40.0, max_value=60.0, allow_nan=False)


@st.composite
def series(draw: st.DrawFn, span_ms: int = 600_000) -> tuple[list[int], list[float]]:
    """Irregular readings in [T0, T0 + span): 1 s cadence, jitter, gaps."""
    offsets = draw(st.lists(st.integers(0, span_ms - 1), min_size=0, max_size=60, unique=True))
    offsets.sort()
    values = draw(st.lists(temps, min_size=len(offsets), max_size=len(offsets)))
    return [T0 + o for o in offsets], values


def _close(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def _same(s: Stretch, t: Stretch) -> None:
    assert (s.start_ms, s.end_ms, s.stats.n) == (t.start_ms, t.end_ms, t.stats.n)
    for name in ("weight_s", "weighted", "arrhenius"):
        assert _close(getattr(s.stats, name), getattr(t.stats, name)), name
    assert (s.stats.lo, s.stats.hi) == (t.stats.lo, t.stats.hi)
    for name in ("below_s", "above_s", "outside_s", "head_s", "tail_s", "longest_s"):
        assert _close(getattr(s.outside, name), getattr(t.outside, name)), name
    assert s.outside.broken == t.outside.broken


def test_weighting_by_hand() -> None:
    cap = hold_cap_ms(10)  # 20 s
    ts = [T0 + 5_000, T0 + 15_000, T0 + 60_000, T0 + 70_000]
    vs = [1.0, 2.0, 3.0, 4.0]
    # the reading before the start holds 2 s into it (up to the first); 10 s; then capped at 20 s (25 s
    # gap); 10 s; the last one weighs up to the end, capped likewise
    got_v, got_w = held(ts, vs, T0 + 3_000, T0 + 100_000, cap, prev=(T0 - 4_000, 9.0))
    assert got_v == [9.0, 1.0, 2.0, 3.0, 4.0]
    assert got_w == [2_000, 10_000, 20_000, 10_000, 20_000]
    s = stretch(ts, vs, T0 + 3_000, T0 + 100_000, cap, prev=(T0 - 4_000, 9.0), low=1.5, high=3.5)
    assert s.stats.n == 4 and s.stats.weight_s == 62.0
    assert s.stats.mean == pytest.approx((18 + 10 + 40 + 30 + 80) / 62)
    assert (s.stats.lo, s.stats.hi) == (1.0, 9.0)
    # outside: 9.0 (2 s above), 1.0 (10 s below), in, in, 4.0 (20 s above)
    assert (s.outside.below_s, s.outside.above_s) == (10.0, 22.0)
    assert s.outside.longest_s == 20.0 and s.outside.head_s == 12.0 and s.outside.tail_s == 20.0
    assert coverage(s.stats.weight_s, T0 + 3_000, T0 + 100_000) == pytest.approx(62 / 97)
    # a prev reading too old to hold into the stretch weighs nothing
    assert held([], [], T0, T0 + 1_000, cap, prev=(T0 - 20_000, 5.0)) == ([], [])
    assert held([], [], T0, T0 + 1_000, cap, prev=(T0 - 19_500, 5.0)) == ([5.0], [500])


def test_hold_cap_and_bad_input() -> None:
    assert hold_cap_ms(1) == 2_000 and hold_cap_ms(0.5) == 1_000
    assert hold_cap_ms(3 * 3600) == HOLD_MAX_MS
    for bad in (0, -1, math.nan, math.inf, "1"):
        with pytest.raises(ValueError, match="poll_interval_s"):
            hold_cap_ms(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="absolute zero"):
        mkt_c([(-300.0, 1.0)])
    with pytest.raises(ValueError, match="low"):
        time_outside([1.0], [1], 5.0, 2.0)
    with pytest.raises(ValueError, match="readings must lie"):
        held([T0 + 5], [1.0], T0, T0 + 5, 1_000)
    with pytest.raises(ValueError, match="consecutive"):
        _ = Stretch(T0, T0 + 1) + Stretch(T0 + 2, T0 + 3)


def test_mkt_reference_values() -> None:
    # equal time at 20 °C and 30 °C: MKT 26.3 °C, above the 25 °C mean
    two = mkt_c([(20.0, 3600.0), (30.0, 3600.0)])
    assert two is not None and 26.2 < two < 26.3
    assert two == pytest.approx(
        -10_000 / math.log((math.exp(-10_000 / 293.15) + math.exp(-10_000 / 303.15)) / 2) - 273.15
    )
    # duration-weighted: an hour at 30 °C counts six times ten minutes of it
    assert mkt_c([(20.0, 3600.0), (30.0, 600.0)]) == pytest.approx(
        mkt_c([(20.0, 600.0)] * 6 + [(30.0, 600.0)])
    )
    assert mkt_c([]) is None and mkt_c([(5.0, 0.0)]) is None


@settings(deadline=None)
@given(temps, st.lists(st.floats(0.001, 1e5), min_size=1, max_size=20))
def test_constant_temperature_has_that_mkt(t: float, weights: list[float]) -> None:
    got = mkt_c([(t, w) for w in weights])
    assert got == pytest.approx(t, abs=1e-9)


@settings(deadline=None)
@given(series())
def test_constant_series_has_that_mkt(s: tuple[list[int], list[float]]) -> None:
    ts, _ = s
    out = stretch(ts, [7.25] * len(ts), T0, T0 + 600_000, 2_000)
    if out.stats.weight_s:
        assert out.stats.mkt() == pytest.approx(7.25, abs=1e-9)
        assert out.stats.mean == pytest.approx(7.25, abs=1e-12)


@settings(deadline=None)
@given(st.lists(st.tuples(temps, st.floats(0.001, 1e5)), min_size=1, max_size=30))
def test_mkt_is_at_least_the_weighted_mean(samples: list[tuple[float, float]]) -> None:
    got = mkt_c(samples)
    mean = math.fsum(t * w for t, w in samples) / math.fsum(w for _, w in samples)
    assert got is not None and got >= mean - 1e-9


@settings(max_examples=150, deadline=None)
@given(
    series(),
    st.integers(0, 600_000),
    st.sampled_from([500, 1_000, 2_000, 10_000, 120_000]),
    st.one_of(st.none(), st.tuples(st.integers(-30_000, -1), temps)),
    st.one_of(st.none(), temps),
    st.one_of(st.none(), temps),
)
def test_splitting_anywhere_adds_up_to_the_whole(
    s: tuple[list[int], list[float]],
    cut: int,
    cap: int,
    prev: tuple[int, float] | None,
    low: float | None,
    high: float | None,
) -> None:
    if low is not None and high is not None and low > high:
        low, high = high, low
    ts, vs = s
    start, end, m = T0, T0 + 600_000, T0 + cut
    p = (T0 + prev[0], prev[1]) if prev else None
    whole = stretch(ts, vs, start, end, cap, prev=p, low=low, high=high)
    left = [(t, v) for t, v in zip(ts, vs, strict=True) if t < m]
    right = [(t, v) for t, v in zip(ts, vs, strict=True) if t >= m]
    mid_prev = left[-1] if left else p
    a = stretch(
        [t for t, _ in left], [v for _, v in left], start, m, cap, prev=p, low=low, high=high
    )
    b = stretch(
        [t for t, _ in right], [v for _, v in right], m, end, cap, prev=mid_prev, low=low, high=high
    )
    _same(whole, a + b)


@settings(max_examples=100, deadline=None)
@given(series(3_600_000), st.sampled_from([2_000, 60_000, 900_000, HOLD_MAX_MS]))
def test_windows_add_up_to_the_stretch(s: tuple[list[int], list[float]], cap: int) -> None:
    """What the roll-up job stores per window adds up to the raw computation."""
    ts, vs = s
    whole = stretch(ts, vs, T0, T0 + 3_600_000, cap, prev=(T0 - 500, 3.0))
    for every in (60_000, 3_600_000):
        windows = window_stats(ts, vs, T0, T0 + 3_600_000, every, cap, prev=(T0 - 500, 3.0))
        total = Stats()
        for w in windows.values():
            total.merge(w)
        assert total.n == whole.stats.n
        assert _close(total.weight_s, whole.stats.weight_s)
        assert _close(total.weighted, whole.stats.weighted)
        assert _close(total.arrhenius, whole.stats.arrhenius)
        assert (total.lo, total.hi) == (whole.stats.lo, whole.stats.hi)


@settings(deadline=None)
@given(st.lists(series(), min_size=3, max_size=3), temps, temps)
def test_outside_combines_associatively(
    xs: list[tuple[list[int], list[float]]], low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    a, b, c = (
        stretch(ts, vs, T0, T0 + 600_000, 2_000, low=low, high=high).outside for ts, vs in xs
    )
    left, right = (a + b) + c, a + (b + c)
    assert left.broken == right.broken
    for name in ("head_s", "tail_s", "longest_s", "below_s", "above_s", "outside_s"):
        assert _close(getattr(left, name), getattr(right, name))
    assert Outside() + a == a and a + Outside() == a


def test_gaps_do_not_end_an_excursion_and_add_nothing() -> None:
    cap = 2_000
    ts = [T0, T0 + 1_000, T0 + 60_000, T0 + 61_000, T0 + 62_000]
    vs = [9.0, 9.0, 9.5, 5.0, 9.0]
    s = stretch(ts, vs, T0, T0 + 64_000, cap, low=2.0, high=8.0)
    # 9, 9 (capped at 2 s: then a 57 s gap), 9.5: one excursion of 4 s; then in range
    assert s.outside.longest_s == 4.0 and s.outside.outside_s == 6.0
    assert s.stats.weight_s == 7.0


def test_window_outside_bounds() -> None:
    inside = Stats(10, 60.0, 300.0, 0.0, 4.0, 6.0)
    assert window_outside(inside, 2.0, 8.0) == Outside(broken=True)
    above = Stats(10, 60.0, 600.0, 0.0, 9.0, 11.0)
    o = window_outside(above, 2.0, 8.0)
    assert (o.above_s, o.uncertain_s, o.longest_s, o.broken) == (60.0, 0.0, 60.0, False)
    straddle = Stats(10, 60.0, 400.0, 0.0, 5.0, 9.0)
    o = window_outside(straddle, 2.0, 8.0)
    assert (o.above_s, o.below_s, o.uncertain_s) == (60.0, 0.0, 60.0)
    assert window_outside(Stats(), 2.0, 8.0) == Outside()
    assert window_outside(straddle, None, None) == Outside(broken=True)
    assert combine([]) is None


def test_nominal_interval_and_hour_caps() -> None:
    assert nominal_interval_ms([]) is None and nominal_interval_ms([5]) is None
    # 1 Hz with lost polls and a long gap: still 1 s
    ts = [T0 + i * 1000 for i in range(100) if i % 7] + [T0 + 500_000]
    assert nominal_interval_ms(ts) == 1000
    assert cap_for(ts, None, None) == 2000
    assert cap_for([T0 + 10], (T0 - 50_010, 1.0), None) == 120_000  # 50 s: a 60 s poll
    # jitter does not move the poll interval
    jittered = [T0 + i * 10_000 + (i * 37) % 300 for i in range(100)]
    assert nominal_interval_ms(jittered) < 10_000 and poll_interval_ms(jittered) == 10_000
    assert poll_interval_ms([T0, T0 + 7_000]) == 5_000 and poll_interval_ms([T0]) is None
    assert cap_for([T0 + 10], None, 4_000) == 4_000 and cap_for([], None, None) == 0
    assert cap_for([T0, T0 + 3 * 3_600_000], None, None) == HOLD_MAX_MS


def test_hour_sums_cover_the_hour_and_read_back() -> None:
    rows = [
        (T0 + 5_000 + i * 10_000, {"temperature": 4.0 + (i % 3), "humidity": 80.0})
        for i in range(360)
    ]
    rows[5][1]["temperature__q"] = 1.0
    sums = hour_sums(rows, T0, {"temperature": (T0 - 5_000, 10.0)})
    assert sums.caps == {"humidity": 20_000, "temperature": 20_000}
    assert sums.last["temperature"] == (T0 + 3_595_000, 4.0 + 359 % 3)
    hour = sums.fields["1h"][T0]
    assert hour["temperature_w"] == 3600.0 and hour["humidity_w"] == 3595.0
    assert hour["temperature_hold"] == 20.0 and "humidity_wmkt" not in hour
    assert hour["temperature_wmax"] == 10.0  # the previous reading held 5 s into the hour
    assert len(sums.fields["1m"]) == 60
    parts = {k.removeprefix("temperature_"): v for k, v in hour.items() if "temperature" in k}
    window = rollup_window({**parts, "count": 360}, 3_600_000, 10.0)
    assert window is not None and window.hold_ms == 20_000 and window.stats.n == 360
    weighted = 5 * 10.0 + sum(10 * (4.0 + i % 3) for i in range(359)) + 5 * (4.0 + 359 % 3)
    assert window.stats.mean == pytest.approx(weighted / 3600)
    # a roll-up made before the weighted sums: read as equal-interval readings
    legacy = rollup_window({"count": 6, "sum": 30.0, "mkt": 6e-16, "min": 4, "max": 6}, 60_000, 5.0)
    assert legacy is not None and legacy.legacy
    assert (legacy.stats.weight_s, legacy.stats.mean) == (30.0, 5.0)
    assert rollup_window({}, 60_000, 5.0) is None
