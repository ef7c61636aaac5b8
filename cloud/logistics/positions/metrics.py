"""Counters of positions (``dehong_positions_*``), rendered by prometheus_client in the
app's own registry (cloud/metrics/api.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

#: Why a fix was not stored though the request was good (each a configurable filter).
FILTERS = ("invalid", "zero", "duplicate", "future", "jump", "accuracy")


@dataclass
class PositionMetrics:
    #: fixes stored, by form (query, json, batch)
    accepted: Counter[str] = field(default_factory=Counter)
    #: fixes filtered, by filter
    filtered: Counter[str] = field(default_factory=Counter)
    #: requests refused, by reason (bad_input, unknown_device, too_large, store_error)
    refused: Counter[str] = field(default_factory=Counter)


class PositionCollector(Collector):
    def __init__(self, metrics: PositionMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        accepted = CounterMetricFamily(
            "dehong_positions_accepted", "Position fixes stored, by form", labels=["form"]
        )
        for form, n in sorted(m.accepted.items()):
            accepted.add_metric([form], n)
        yield accepted
        filtered = CounterMetricFamily(
            "dehong_positions_filtered",
            "Position fixes not stored because a filter took them out",
            labels=["reason"],
        )
        for reason in FILTERS:
            filtered.add_metric([reason], m.filtered.get(reason, 0))
        yield filtered
        refused = CounterMetricFamily(
            "dehong_positions_refused", "Position requests refused, by reason", labels=["reason"]
        )
        for reason, n in sorted(m.refused.items()):
            refused.add_metric([reason], n)
        yield refused
