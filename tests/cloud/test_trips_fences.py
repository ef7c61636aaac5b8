"""Geofence shapes (validation, inside/outside on a local plane) and enter/exit events
with hysteresis (cloud/logistics/trips/shapes.py, fences.py)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from cloud.logistics.trips.arrays import track_of
from cloud.logistics.trips.fences import Fence, fence_events
from cloud.logistics.trips.fixes import Fix
from cloud.logistics.trips.params import GeofenceParams
from cloud.logistics.trips.shapes import Shape
from tests.support.api import T0

M_LAT = 1 / 110_770  # degrees of latitude per metre near 24.4° N (about)


def square(lat: float, lon: float, half_m: float) -> list[list[float]]:
    dlat = half_m * M_LAT
    dlon = half_m * M_LAT / math.cos(math.radians(lat))
    return [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat],
            [lon - dlon, lat + dlat], [lon - dlon, lat - dlat]]  # fmt: skip


@pytest.mark.parametrize(
    ("coords", "says"),
    [
        ([[98.5, 24.4], [98.6, 24.4], [98.6, 24.5], [98.5, 24.5]], "closed"),
        ([[98.5, 24.4], [98.6, 24.4], [98.5, 24.4]], "closed"),
        ([[98.5, 24.4], [98.6, 24.4], [98.6, 24.4], [98.5, 24.4]], "3 distinct"),
        ([[98.5, 24.4], [98.6, 24.5], [98.6, 24.4], [98.5, 24.5], [98.5, 24.4]], "crosses itself"),
        ([[98.5, 24.4], [98.6, 24.4], [98.7, 24.4], [98.5, 24.4]], "fold back"),
        ([[98.5, 24.4], [98.6, 91], [98.6, 24.5], [98.5, 24.4]], "coordinates[1]: lat"),
        ([[98.5, 24.4], [float("nan"), 24.4], [98.6, 24.5], [98.5, 24.4]], "coordinates[1]: lon"),
        ([[98.0, 24.0], [99.0, 24.0], [99.0, 25.0], [98.0, 24.0]], "wider than"),
    ],
)
def test_bad_polygons_are_refused_naming_the_reason(coords: list[list[float]], says: str) -> None:
    with pytest.raises(ValueError, match=r"^coordinates") as exc:
        Shape.polygon(coords)
    assert says in str(exc.value)


def test_bad_circles_are_refused() -> None:
    for r in (5, 60_000, float("inf")):
        with pytest.raises(ValueError, match=r"^radius_m"):
            Shape.circle(24.4, 98.5, r)
    with pytest.raises(ValueError, match=r"^center: lat"):
        Shape.circle(95, 98.5, 100)


def test_signed_distance_of_a_square_and_a_concave_polygon() -> None:
    sq = Shape.polygon(square(24.4, 98.5, 100))
    lat = np.array([24.4, 24.4 + 50 * M_LAT, 24.4 + 150 * M_LAT])
    d = sq.signed_distance(lat, np.full(3, 98.5))
    assert abs(d[0] - 100) < 0.5 and abs(d[1] - 50) < 0.5 and abs(d[2] + 50) < 0.5
    # a U: the notch is outside
    u = [[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3], [0, 0]]
    ring = [[98.5 + x * 0.001, 24.4 + y * 0.001] for x, y in u]
    shape = Shape.polygon(ring)
    inside = shape.signed_distance(np.array([24.4005, 24.4025]), np.array([98.5005, 98.5015]))
    assert inside[0] > 0 and inside[1] < 0


def _walk(lats: list[float], lon: float = 98.5, acc: float = 5.0) -> list[Fix]:
    return [Fix(T0 + i * 1000, la, lon, None, acc) for i, la in enumerate(lats)]


def test_jitter_at_the_edge_makes_no_events() -> None:
    fence = Fence(1, Shape.circle(24.4, 98.5, 100), location_id=7)
    rnd = random.Random(1)
    # outside far, then 30 min hovering around the edge (±8 m), then far again
    lats = [24.4 + 400 * M_LAT] * 30
    lats += [24.4 + (100 + rnd.uniform(-8, 8)) * M_LAT for _ in range(1800)]
    lats += [24.4 + 400 * M_LAT] * 30
    events, _ = fence_events(track_of(_walk(lats)), [fence])
    assert events == []
    # without hysteresis the same walk flaps hundreds of times
    raw = GeofenceParams(enter_margin_m=0, exit_margin_m=0, min_fixes=1, min_dwell_s=0,
                         accuracy_factor=0)  # fmt: skip
    flaps, _ = fence_events(track_of(_walk(lats)), [fence], raw)
    assert len(flaps) > 100


def test_enter_and_exit_are_confirmed_at_the_run_that_proves_them() -> None:
    fence = Fence(1, Shape.circle(24.4, 98.5, 100), location_id=7)
    lats = [24.4 + (300 - i * 5) * M_LAT for i in range(61)]  # in at 5 m/s to the centre
    lats += [lats[-1]] * 60  # fixes 61..120 parked
    lats += [lats[-1] + i * 5 * M_LAT for i in range(1, 120)]  # out again, north
    events, state = fence_events(track_of(_walk(lats)), [fence])
    assert [e.kind for e in events] == ["enter", "exit"]
    enter, exit_ = events
    # inside by 10 m + 5 m accuracy: 85 m from the centre = fix 43 (±1: exactly on the
    # margin); 5 s dwell
    assert abs(enter.since_ms - (T0 + 43_000)) <= 1000 and enter.at_ms - enter.since_ms == 5000
    assert enter.location_id == 7 and state == {1: False}
    # out by 30 m + 5 m: 135 m from the centre, the 27th fix after the 60 parked
    assert (
        abs(exit_.since_ms - (T0 + (120 + 27) * 1000)) <= 1000
        and exit_.at_ms - exit_.since_ms == 5_000
    )


def test_a_vehicle_starting_inside_does_not_enter() -> None:
    fence = Fence(1, Shape.circle(24.4, 98.5, 100))
    events, state = fence_events(track_of(_walk([24.4] * 30)), [fence])
    assert events == [] and state == {1: True}


def test_neighbouring_polygons_are_judged_apart() -> None:
    # two 100 m squares 30 m apart; a truck parks in the second
    a = Fence(1, Shape.polygon(square(24.4, 98.5, 50)))
    b_lon = 98.5 + 130 * M_LAT / math.cos(math.radians(24.4))
    b = Fence(2, Shape.polygon(square(24.4, b_lon, 50)))
    far = [Fix(T0 + i * 1000, 24.41, 98.5) for i in range(10)]
    park = [Fix(T0 + (10 + i) * 1000, 24.4, b_lon) for i in range(30)]
    events, state = fence_events(track_of(far + park), [a, b])
    assert [(e.fence_id, e.kind) for e in events] == [(2, "enter")]
    assert state == {1: False, 2: True}


def test_poor_fixes_neither_enter_nor_break_a_run() -> None:
    fence = Fence(1, Shape.circle(24.4, 98.5, 100))
    fixes = [Fix(T0 + i * 1000, 24.41, 98.5, None, 5.0) for i in range(10)]  # outside: known
    fixes += [
        Fix(T0 + (10 + i) * 1000, 24.4, 98.5, None, 500.0 if i % 2 else 5.0) for i in range(20)
    ]
    events, _ = fence_events(track_of(fixes), [fence])
    assert [e.kind for e in events] == ["enter"]
    only_poor = fixes[:10] + [Fix(T0 + 10_000 + i, 24.4, 98.5, None, 500.0) for i in range(20)]
    assert fence_events(track_of(only_poor), [fence])[0] == []
