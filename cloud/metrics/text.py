"""Prometheus text format 0.0.4, written by hand: a few counters, gauges and one
histogram do not need a client library with a process-global registry."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Write latency buckets, seconds.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(labels.items())) + "}"


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


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
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            if running >= target:
                return bound
        return float("inf")


class Exposition:
    """Collects metric families and renders them."""

    def __init__(self) -> None:
        self._out: list[str] = []

    def _head(self, name: str, kind: str, help_text: str) -> None:
        self._out.append(f"# HELP {name} {help_text}")
        self._out.append(f"# TYPE {name} {kind}")

    def counter(
        self,
        name: str,
        help_text: str,
        value: float | Iterable[tuple[Mapping[str, str], float]],
    ) -> None:
        self._family(name, "counter", help_text, value)

    def gauge(
        self,
        name: str,
        help_text: str,
        value: float | Iterable[tuple[Mapping[str, str], float]],
    ) -> None:
        self._family(name, "gauge", help_text, value)

    def _family(
        self,
        name: str,
        kind: str,
        help_text: str,
        value: float | Iterable[tuple[Mapping[str, str], float]],
    ) -> None:
        self._head(name, kind, help_text)
        if isinstance(value, int | float):
            self._out.append(f"{name} {_num(value)}")
            return
        for labels, v in value:
            self._out.append(f"{name}{_labels(labels)} {_num(v)}")

    def histogram(self, name: str, help_text: str, h: Histogram) -> None:
        self._head(name, "histogram", help_text)
        running = 0
        for bound, count in zip(h.buckets, h.counts, strict=True):
            running += count
            self._out.append(f'{name}_bucket{{le="{_num(bound)}"}} {running}')
        self._out.append(f'{name}_bucket{{le="+Inf"}} {h.n}')
        self._out.append(f"{name}_sum {_num(h.total)}")
        self._out.append(f"{name}_count {h.n}")

    def render(self) -> str:
        return "\n".join(self._out) + "\n"
