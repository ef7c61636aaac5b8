"""A reefer unit and its compartment air (what probe ``temp1`` measures).

- working, door shut: the air relaxes to the setpoint (time constant 15 min),
  with a slow random wander (AR(1), about ±0.3 °C) from the compressor cycling;
- door open (at drops): toward ambient with a time constant of 10 min, so a
  4-minute opening peaks around 12-13 °C and recovers within a quarter hour;
- failed (``--fail-reefer``): the insulated box warms toward ambient
  exponentially with a time constant of 90 min: from 5 °C it passes 8 °C
  about 13 minutes after the failure and stays above for the rest of the trip;
- the probe adds Gaussian noise (σ 0.05 °C) and reports 0.1 °C steps.
"""

from __future__ import annotations

import math
import random

TAU_COOL_S = 15 * 60.0
TAU_DOOR_S = 10 * 60.0
TAU_FAIL_S = 90 * 60.0


class Reefer:
    def __init__(
        self, setpoint_c: float, ambient_c: float, rng: random.Random, fail_at_ms: int | None = None
    ) -> None:
        self.setpoint_c = setpoint_c
        self.ambient_c = ambient_c
        self.rng = rng
        self.fail_at_ms = fail_at_ms
        self.air_c = setpoint_c + rng.uniform(-0.5, 0.5)
        self._wander = 0.0

    def failed(self, t_ms: int) -> bool:
        return self.fail_at_ms is not None and t_ms >= self.fail_at_ms

    def step(self, t_ms: int, dt_s: float, door_open: bool) -> None:
        if self.failed(t_ms):
            target, tau = self.ambient_c, TAU_FAIL_S
        elif door_open:
            target, tau = self.ambient_c, TAU_DOOR_S
        else:
            self._wander = 0.995 * self._wander + self.rng.gauss(0.0, 0.03) * math.sqrt(dt_s)
            target, tau = self.setpoint_c + self._wander, TAU_COOL_S
        self.air_c = target + (self.air_c - target) * math.exp(-dt_s / tau)

    def probe(self) -> float:
        return round(self.air_c + self.rng.gauss(0.0, 0.05), 1)
