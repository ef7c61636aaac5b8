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


class CatchUpClock(SimClock):
    """A replay of the recent past that becomes live: ``speed`` simulated seconds per
    wall second from ``start_ms`` until simulated time reaches the wall clock, then
    speed 1 (simulated time = wall time). Nothing it times lies in the future. Used by
    ``dehong demo``: the last minutes of the fleet replay fast, then the trucks go on
    live for as long as the demo runs."""

    def __init__(
        self,
        start_ms: int,
        speed: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ms: int | None = None,
    ) -> None:
        super().__init__(start_ms, speed, monotonic=monotonic)
        now_ms = int(time.time() * 1000) if wall_ms is None else wall_ms
        behind_ms = max(0, now_ms - start_ms)
        #: wall seconds until the replay has caught up (then live)
        self.catch_up_s = 0.0 if speed <= 1.0 else behind_ms / 1000.0 / (speed - 1.0)
        #: the simulated time at which it is caught up
        self.live_from_ms = start_ms + int(self.catch_up_s * 1000.0 * speed)

    def sim_ms(self) -> int:
        elapsed = self._monotonic() - self._wall0
        if elapsed < self.catch_up_s:
            return self.start_ms + int(elapsed * 1000.0 * self.speed)
        return self.live_from_ms + int((elapsed - self.catch_up_s) * 1000.0)

    def wall_delay_s(self, sim_ms: int) -> float:
        if sim_ms <= self.live_from_ms:
            at = (sim_ms - self.start_ms) / 1000.0 / self.speed
        else:
            at = self.catch_up_s + (sim_ms - self.live_from_ms) / 1000.0
        return max(0.0, at - (self._monotonic() - self._wall0))
