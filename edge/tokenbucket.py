"""A token bucket: the backlog drains at a configured rate of readings per second.

When 500 gateways come back after a county-wide 4G outage, each drains its
backlog at ``rate`` readings/s (bursting up to ``burst``), so ingest sees a
bounded, known load instead of a wall. Live data does not pass through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"token bucket needs a positive rate and burst, got {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._at = clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def wait_s(self, cost: float) -> float:
        """Seconds until ``cost`` may be taken (a cost above ``burst`` needs a full bucket)."""
        self._refill()
        need = min(cost, self.burst)
        return 0.0 if self._tokens >= need else (need - self._tokens) / self.rate

    def take(self, cost: float) -> bool:
        """Take ``cost`` tokens if :meth:`wait_s` is 0; the balance may go negative for a
        cost above ``burst``, which delays what follows by the excess."""
        if self.wait_s(cost) > 0:
            return False
        self._tokens -= cost
        return True
