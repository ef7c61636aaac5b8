"""A latency histogram as plain counts, cheap to observe on a hot path and readable
by tests and benchmarks (``n``, ``quantile``); :meth:`Histogram.family` hands it to
prometheus_client for exposition."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

#: Latency buckets, seconds.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.total += value
        self.n += 1

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile ``q`` (None when empty)."""
        if self.n == 0:
            return None
        target = q * self.n
        for bound, running in zip(self.buckets, itertools.accumulate(self.counts), strict=True):
            if running >= target:
                return bound
        return float("inf")

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative = itertools.accumulate(self.counts)
        buckets = [
            (floatToGoString(b), float(c)) for b, c in zip(self.buckets, cumulative, strict=True)
        ]
        buckets.append(("+Inf", float(self.n)))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.total)
