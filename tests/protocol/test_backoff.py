"""The shared backoff (edge reconnects and Modbus retries, cloud write retries and
reconnects)."""

from __future__ import annotations

import random

from protocol.backoff import Backoff


def test_backoff_is_exponential_jittered_and_capped() -> None:
    backoff = Backoff(0.5, 4.0, random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    caps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len({round(d, 6) for d in delays}) == 6  # jittered
    backoff.reset()
    assert backoff.next() <= 0.5


def test_maximum_below_minimum_is_the_minimum() -> None:
    backoff = Backoff(2.0, 1.0, random.Random(2))
    assert all(1.0 <= backoff.next() <= 2.0 for _ in range(5))
