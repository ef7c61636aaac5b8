"""Jittered exponential backoff, shared by the edge and the cloud: MQTT reconnects,
Modbus devices that stay down, time-series writes that the store cannot take."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with jitter: each delay is in [cap/2, cap], cap doubling
    from ``minimum`` up to ``maximum``. :meth:`reset` after a success."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self.attempt = 0
        self.rng = rng or random.Random()

    def reset(self) -> None:
        self.attempt = 0

    def next(self) -> float:
        cap = min(self.maximum, self.minimum * (2**self.attempt))
        self.attempt += 1
        return cap / 2 + self.rng.uniform(0, cap / 2)
