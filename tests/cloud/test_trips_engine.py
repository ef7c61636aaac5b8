"""Stops and trips by fix time (cloud/logistics/trips/engine.py), distances
(geodesy.py), the replay simplification (simplify.py): worked cases and properties."""

from __future__ import annotations

import math
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.logistics.trips.engine import analyse
from cloud.logistics.trips.fixes import Fix
from cloud.logistics.trips.geodesy import distance_m, haversine_m, local_m, vincenty_m
from cloud.logistics.trips.params import TripParams
from cloud.logistics.trips.simplify import importance
from tests.cloud.trips_cases import STORE, day_fixes
from tests.support.api import T0


def _dms(d: float, m: float, s: float) -> float:
    return math.copysign(abs(d) + m / 60 + s / 3600, d)


def test_vincenty_matches_the_published_geodesic() -> None:
    # Vincenty (1975) / Geoscience Australia: Flinders Peak to Buninyong, 54,972.271 m
    lat1, lon1 = _dms(-37, 57, 3.72030), _dms(144, 25, 29.52440)
    lat2, lon2 = _dms(-37, 39, 10.15610), _dms(143, 55, 35.38390)
    assert abs(vincenty_m(lat1, lon1, lat2, lon2) - 54_972.271) < 0.002  # type: ignore[operator]
    assert abs(distance_m(lat1, lon1, lat2, lon2) - 54_972.271) < 0.002
    # the sphere is off by metres over the same line
    assert abs(haversine_m(lat1, lon1, lat2, lon2) - 54_972.271) > 10


def test_the_local_formula_agrees_with_vincenty_on_short_segments() -> None:
    rnd = random.Random(7)
    for _ in range(200):
        lat, lon = rnd.uniform(20, 30), rnd.uniform(95, 105)
        d = rnd.uniform(1, 19_000)
        brg = rnd.uniform(0, 2 * math.pi)
        lat2 = lat + d * math.cos(brg) / 111_000
        lon2 = lon + d * math.sin(brg) / (111_000 * math.cos(math.radians(lat)))
        v = vincenty_m(lat, lon, lat2, lon2)
        assert v is not None
        assert abs(local_m(lat, lon, lat2, lon2) - v) < 1e-3 * max(1.0, v / 1000), (d, v)


def test_a_drive_a_stop_and_a_drive() -> None:
    fixes = day_fixes()
    an = analyse(fixes)
    kinds = [i.kind for i in an.items]
    assert kinds == ["trip", "stop", "trip"]
    trip, stop, trip2 = an.items
    assert trip.end_ms == stop.start_ms and stop.end_ms == trip2.start_ms
    # 1800 s at 50 km/h = 25 km, give or take the part the stop's radius takes
    assert 24_500 < trip.distance_m < 25_100
    assert trip.max_speed_kmh == 50.0 and 49 < trip.avg_speed_kmh < 51  # type: ignore[operator]
    assert 600 <= stop.duration_s <= 620
    assert abs(stop.lat - STORE[0]) < 1e-4
    # the stop begins at the first fix within 200 m of where the truck stays: the last
    # ~14 s of the approach (50 km/h) are in it, with their 3-5 °C
    assert stop.temp is not None and stop.temp.max == 9.0 and 3.0 < stop.temp.min < 5.0
    assert 4.9 < stop.temp.mean < 5.05  # type: ignore[operator]
    assert stop.temp.mkt >= stop.temp.mean  # type: ignore[operator]
    assert trip.after_gap and not stop.after_gap and trip2.end_reason == "end"
    assert stop.resume_ms == trip2.start_ms + 1000


def test_a_gap_ends_a_trip_and_no_trip_spans_it() -> None:
    a = day_fixes()
    b = day_fixes(a[-1].t_ms + 3_600_000)
    an = analyse(a + b)
    ends = [i.end_ms for i in an.items if i.end_reason == "end"]
    assert ends == [a[-1].t_ms, b[-1].t_ms]
    after = [i for i in an.items if i.after_gap]
    assert [i.start_ms for i in after] == [a[0].t_ms, b[0].t_ms]
    # just under the gap: one continuous day
    c = day_fixes(a[-1].t_ms + 3_599_000)
    assert [i.end_ms for i in analyse(a + c).items if i.end_reason == "end"] == [c[-1].t_ms]


def test_jitter_past_the_radius_does_not_cut_a_stop() -> None:
    rnd = random.Random(3)
    fixes = [Fix(T0 + i * 1000, 24.4 + rnd.gauss(0, 4e-4), 98.5, 0.0, 30.0) for i in range(900)]
    an = analyse(fixes)
    assert [i.kind for i in an.items] == ["stop"], [(i.kind, i.distance_m) for i in an.items]


def test_a_trip_at_a_walking_pace_is_no_stop() -> None:
    # 1.5 m/s: 270 m in 180 s, out of any 200 m circle before the stop time
    fixes = [Fix(T0 + i * 1000, 24.4 + i * 1.5 / 111_000, 98.5) for i in range(1200)]
    assert [i.kind for i in analyse(fixes).items] == ["trip"]


def test_parameters_are_checked_by_name() -> None:
    for bad in ({"stop_radius_m": 0}, {"max_gap_s": -1}, {"max_accuracy_m": 0}):
        try:
            TripParams(**bad)  # type: ignore[arg-type]
        except ValueError as exc:
            assert str(exc).startswith(next(iter(bad)))
        else:
            raise AssertionError(bad)


def _summary(fixes: list[Fix]) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (
            i.kind,
            i.start_ms,
            i.end_ms,
            round(i.distance_m, 6),
            i.temp and round(i.temp.mean or 0, 9),
        )
        for i in analyse(fixes).items
    ]


SAMPLE = day_fixes(hz=0.2, drive_s=900, park_s=400) + day_fixes(
    T0 + 5_000_000, hz=0.2, drive_s=600, park_s=200
)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 40))
def test_order_of_arrival_does_not_change_the_result(rnd: random.Random, dups: int) -> None:
    """Fixes arriving in any order, some twice (a resent batch), give the same result."""
    shuffled = list(SAMPLE) + rnd.sample(SAMPLE, dups)
    rnd.shuffle(shuffled)
    assert _summary(shuffled) == _summary(SAMPLE)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, len(SAMPLE) - 1))
def test_from_any_stored_stop_the_rest_comes_out_the_same(cut: int) -> None:
    """What the recompute relies on: restarting at a stop's first fix gives the same items
    from there on as the whole computation."""
    whole = analyse(SAMPLE).items
    stops = [i for i in whole if i.kind == "stop" and i.start_ms <= SAMPLE[cut].t_ms]
    if not stops:
        return
    origin = stops[-1].start_ms
    tail = analyse(SAMPLE, origin_ms=origin).items
    key = lambda i: (i.kind, i.start_ms, i.end_ms, round(i.distance_m, 6), i.end_reason)  # noqa: E731
    assert [key(i) for i in tail] == [key(i) for i in whole if i.start_ms >= origin]


def test_douglas_peucker_importance_equals_the_recursive_algorithm() -> None:
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.normal(10, 4, 3000))
    y = np.cumsum(rng.normal(0, 4, 3000))

    def dp(a: int, b: int, tol: float, keep: set[int]) -> None:
        if b - a < 2:
            return
        dx, dy = x[b] - x[a], y[b] - y[a]
        d = np.abs(dx * (y[a + 1 : b] - y[a]) - dy * (x[a + 1 : b] - x[a])) / math.hypot(dx, dy)
        k = int(np.argmax(d))
        if d[k] > tol:
            keep.add(a + 1 + k)
            dp(a, a + 1 + k, tol, keep)
            dp(a + 1 + k, b, tol, keep)

    imp = importance(x, y, 0.5)
    for tol in (1.0, 3.0, 10.0, 50.0):
        keep = {0, len(x) - 1}
        dp(0, len(x) - 1, tol, keep)
        assert sorted(keep) == np.flatnonzero(imp > tol).tolist()


def test_importance_of_several_polylines_is_each_ones_own() -> None:
    """importance(parts=...): several polylines in one pass, each as if on its own
    (what a recompute's trips' replay tracks use), in both deviation modes."""
    rng = np.random.default_rng(7)
    lens = [0, 1, 2, 3, 50, 700, 1, 400]
    x = np.cumsum(rng.normal(10, 4, sum(lens)))
    y = np.cumsum(rng.normal(0, 4, sum(lens)))
    for vertical in (False, True):
        together = importance(x, y, 0.5, vertical=vertical, parts=lens)
        alone = []
        at = 0
        for n in lens:
            alone.append(importance(x[at : at + n], y[at : at + n], 0.5, vertical=vertical))
            at += n
        assert np.array_equal(together, np.concatenate(alone))
    try:
        importance(x, y, 0.5, parts=[1, 2])
    except ValueError as exc:
        assert "parts" in str(exc)
    else:
        raise AssertionError("parts not summing to the points was accepted")
