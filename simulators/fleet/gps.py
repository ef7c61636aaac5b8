"""A GPS receiver's view of the truth: a few metres of wandering error, an
accuracy estimate to match, now and then an accuracy spike (multipath under
cliffs, urban canyons) of tens of metres; no fix at all in a tunnel."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from simulators.fleet.geo import offset
from simulators.fleet.motion import Truth

SIGMA_M = 3.0
SPIKE_PROBABILITY = 0.01


@dataclass(frozen=True, slots=True)
class Fix:
    t_ms: int
    lat: float
    lon: float
    alt: float
    speed_ms: float
    course: float
    accuracy_m: float
    moving: bool


class GpsReceiver:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._north = 0.0
        self._east = 0.0
        self._course = 0.0

    def fix(self, truth: Truth) -> Fix | None:
        if truth.gap == "tunnel":
            return None
        rng = self.rng
        # slowly wandering error (AR(1)), stationary sigma about SIGMA_M
        self._north = 0.9 * self._north + rng.gauss(0.0, SIGMA_M * math.sqrt(1 - 0.81))
        self._east = 0.9 * self._east + rng.gauss(0.0, SIGMA_M * math.sqrt(1 - 0.81))
        north, east = self._north, self._east
        accuracy = round(rng.uniform(3.0, 8.0), 1)
        if rng.random() < SPIKE_PROBABILITY:
            accuracy = round(rng.uniform(25.0, 80.0), 1)
            north += rng.gauss(0.0, accuracy / 2)
            east += rng.gauss(0.0, accuracy / 2)
        lat, lon = offset(truth.lat, truth.lon, north, east)
        speed = max(0.0, truth.speed_ms + rng.gauss(0.0, 0.2)) if truth.moving else 0.0
        if truth.moving and speed > 0.5:
            self._course = (truth.course + rng.gauss(0.0, 2.0)) % 360.0
        return Fix(
            truth.t_ms,
            round(lat, 7),
            round(lon, 7),
            round(truth.alt + rng.gauss(0.0, 5.0), 1),
            round(speed, 2),
            round(self._course, 1),
            accuracy,
            truth.moving,
        )
