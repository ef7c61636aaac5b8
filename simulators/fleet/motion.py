"""Where a truck truly is, second by simulated second.

A truck waits at its depot until ``depart_min``, then drives each leg of its
route: it accelerates gently (0.6 m/s²), cruises at a speed drawn for every
2 km stretch from its road class (``urban`` 30-40 km/h, ``county`` 45-60,
``highway`` 60-80), brakes (1 m/s²) into each drop and dwells there
``dwell_min`` minutes with the reefer door open for ``door_min`` of them
(from the first minute). After the last drop it stays parked.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from simulators.fleet.routes import Network, Route

SPEED_KMH = {"urban": (30.0, 40.0), "county": (45.0, 60.0), "highway": (60.0, 80.0)}
ACCEL_MS2 = 0.6
BRAKE_MS2 = 1.0
STRETCH_M = 2000.0


@dataclass(frozen=True, slots=True)
class Truth:
    t_ms: int
    lat: float
    lon: float
    alt: float
    speed_ms: float
    course: float
    moving: bool
    #: the place the truck stands at (depot, drop, end), None while driving
    stop: str | None
    #: ``tunnel`` (no GPS, no network), ``no_signal`` (no network) or None
    gap: str | None
    door_open: bool
    #: distance driven since the start, metres
    odometer_m: float
    #: the trip is over: parked at the last drop after its dwell
    done: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    route: list[str]
    depart_s: float
    dwell_s: float
    door_s: float


def truths(
    plan: Plan, net: Network, rng: random.Random, start_ms: int, step_s: int = 1
) -> Iterator[Truth]:
    """The truck's true state every ``step_s`` simulated seconds, forever (parked at the end)."""
    t = 0
    odo = 0.0
    legs = [net.route(a, b) for a, b in itertools.pairwise(plan.route)]
    first = net.place(plan.route[0])
    lat, lon, alt, course = first.lat, first.lon, first.alt, 0.0
    if legs:
        lat, lon, alt, course = legs[0].at(0.0)

    def parked(place: str, door: bool, done: bool = False) -> Truth:
        return Truth(
            start_ms + t * 1000, lat, lon, alt, 0.0, course, False, place, None, door, odo, done
        )

    # at the depot: loading with the door open during the last door_s before departure
    while t < plan.depart_s:
        yield parked(plan.route[0], plan.depart_s - plan.door_s <= t)
        t += step_s
    for leg_no, route in enumerate(legs):
        for truth in _drive(route, rng, start_ms, t, odo, step_s):
            t = (truth.t_ms - start_ms) // 1000 + step_s
            odo = truth.odometer_m
            lat, lon, alt, course = truth.lat, truth.lon, truth.alt, truth.course
            yield truth
        place = plan.route[leg_no + 1]
        end = t + plan.dwell_s
        while t < end:
            into = t - (end - plan.dwell_s)
            yield parked(place, 60.0 <= into < 60.0 + plan.door_s)
            t += step_s
    while True:
        yield parked(plan.route[-1], False, True)
        t += step_s


def _cruise(
    route: Route, s: float, rng: random.Random, drawn: dict[tuple[int, str], float]
) -> float:
    cls = route.road_class(s)
    key = (int(s // STRETCH_M), cls)
    if key not in drawn:
        lo, hi = SPEED_KMH.get(cls, SPEED_KMH["county"])
        drawn[key] = rng.uniform(lo, hi) / 3.6
    return drawn[key]


def _drive(
    route: Route, rng: random.Random, start_ms: int, t0: int, odo0: float, step_s: int
) -> Iterator[Truth]:
    s, v, t = 0.0, 0.0, t0
    drawn: dict[tuple[int, str], float] = {}
    length = route.length_m
    while length - s > 1.0:
        target = _cruise(route, s, rng, drawn)
        brake_cap = math.sqrt(2 * BRAKE_MS2 * max(0.0, length - s - 5.0))
        target = min(target, brake_cap)
        if v < target:
            v = min(target, v + ACCEL_MS2 * step_s)
        else:
            v = max(target, v - BRAKE_MS2 * step_s)
        v = max(v, 0.5)  # crawl the last metres rather than stop short
        s = min(length, s + v * step_s)
        t += step_s
        lat, lon, alt, course = route.at(s)
        gap = route.gap_at(s)
        yield Truth(
            start_ms + t * 1000,
            lat,
            lon,
            alt,
            v,
            course,
            True,
            None,
            gap.kind if gap else None,
            False,
            odo0 + s,
        )
