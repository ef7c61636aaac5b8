"""Simulated time: ``speed`` simulated seconds pass per wall second.

Every timestamp the fleet sends (OsmAnd ``timestamp``, wire ``t0``) is
simulated time in UTC epoch milliseconds. With ``speed`` 60 one simulated
minute passes per second. ``realtime`` is speed 1 starting now.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    def __init__(
        self,
        start_ms: int,
        speed: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.start_ms = start_ms
        self.speed = speed
        self._monotonic = monotonic
        self._wall0 = monotonic()

    def sim_ms(self) -> int:
        """Simulated time now, UTC epoch ms."""
        return self.start_ms + int((self._monotonic() - self._wall0) * 1000.0 * self.speed)

    def wall_delay_s(self, sim_ms: int) -> float:
        """Wall seconds until simulated time reaches ``sim_ms`` (0 if past)."""
        return max(0.0, (sim_ms - self.sim_ms()) / 1000.0 / self.speed)
