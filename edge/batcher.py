"""Accumulate samples per device and cut columnar :class:`~protocol.messages.DataBatch` es.

Each device becomes one :class:`~protocol.messages.Series`: ``t0``, ``n``, a
uniform ``dt`` when the readings are evenly spaced (the normal case with an
aligned poll schedule) or the list of gaps otherwise, and one float column per
metric with ``None`` where a metric has no reading at that instant.

The caller cuts a batch every batch interval, and as soon as :meth:`Batcher.add`
reports that the batch is close to the protocol's limits.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field

from edge.clock import now_ms
from edge.drivers.base import Sample
from edge.state import StateStore
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import AssetKind, DataBatch, Series


def new_batch_id() -> str:
    """A unique batch id: 16 url-safe characters (96 random bits)."""
    return secrets.token_urlsafe(12)


@dataclass(slots=True)
class _DeviceRows:
    kind: AssetKind
    site: str | None
    rows: dict[int, dict[str, float | None]] = field(default_factory=dict)
    flags: dict[int, dict[str, int]] = field(default_factory=dict)
    metrics: dict[str, None] = field(default_factory=dict)  # ordered set

    def cells(self) -> int:
        return len(self.rows) * len(self.metrics)


def time_steps(times: list[int]) -> int | list[int]:
    """A series' ``dt`` for sorted ``times``: one int when evenly spaced, else the gaps."""
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if not gaps:
        return 1000
    if all(g == gaps[0] for g in gaps):
        return gaps[0]
    return gaps


def build_series(device: str, acc: _DeviceRows) -> Series:
    times = sorted(acc.rows)
    dt = time_steps(times)
    values = {m: [acc.rows[t].get(m) for t in times] for m in acc.metrics}
    quality: dict[str, list[tuple[int, int]]] = {}
    for i, t in enumerate(times):
        for metric, flags in acc.flags.get(t, {}).items():
            if flags:
                quality.setdefault(metric, []).append((i, flags))
    return Series(
        device=device,
        kind=acc.kind,
        site=acc.site,
        t0=times[0],
        n=len(times),
        dt=dt,
        values=values,
        quality=quality,
    )


class Batcher:
    """Samples in, batches out. ``fill`` is the share of the protocol limits to use."""

    def __init__(
        self,
        gateway_id: str,
        state: StateStore,
        limits: Limits = DEFAULT_LIMITS,
        fill: float = 0.8,
    ) -> None:
        self.gateway_id = gateway_id
        self.state = state
        self.max_readings = int(limits.max_readings_per_batch * fill)
        self.max_series = int(limits.max_series_per_batch * fill)
        self.max_metrics = limits.max_metrics_per_series
        self._devices: dict[str, _DeviceRows] = {}
        self._cells = 0

    @property
    def buffered(self) -> int:
        """Readings slots (rows x metrics) waiting for the next cut."""
        return self._cells

    def first_ts(self) -> int | None:
        """Time of the earliest buffered reading, None when empty."""
        return min((min(acc.rows) for acc in self._devices.values() if acc.rows), default=None)

    def add(self, sample: Sample) -> bool:
        """Buffer one sample; True when the batch should be cut now (near the limits).

        A sample that would give its device more metrics than a series may carry
        raises ``ValueError`` and changes nothing (the config check refuses such a
        device; a driver that still sends one is a bug)."""
        acc = self._devices.get(sample.device)
        known = acc.metrics if acc is not None else {}
        new = [m for m in sample.values if m not in known]
        if len(known) + len(new) > self.max_metrics:
            raise ValueError(
                f"device {sample.device}: {len(known) + len(new)} metrics, more than the "
                f"{self.max_metrics} a series may carry; split it into several devices in the config"
            )
        if acc is None:
            acc = self._devices[sample.device] = _DeviceRows(sample.kind, sample.site)
        before = acc.cells()
        row = acc.rows.setdefault(sample.ts_ms, {})
        for metric, value in sample.values.items():
            acc.metrics.setdefault(metric, None)
            if value is not None or metric not in row:
                row[metric] = value
        if sample.flags or sample.metric_flags:
            flags = acc.flags.setdefault(sample.ts_ms, {})
            for metric in sample.values:
                bits = sample.flags | sample.metric_flags.get(metric, 0)
                if bits:
                    flags[metric] = flags.get(metric, 0) | bits
        self._cells += acc.cells() - before
        return self._cells >= self.max_readings or len(self._devices) >= self.max_series

    def build(self) -> DataBatch | None:
        """Everything buffered as one batch with the next seq, without forgetting it.

        The seq is taken (and persisted) last: if that fails, nothing changed. Call
        :meth:`clear` once the batch is stored; until then the rows stay here."""
        series = [build_series(device, acc) for device, acc in self._devices.items() if acc.rows]
        if not series:
            return None
        return DataBatch(
            gw=self.gateway_id,
            seq=self.state.take_seq(),
            id=new_batch_id(),
            sent=now_ms(),
            series=series,
        )

    def clear(self) -> None:
        """Forget everything buffered (it is in a stored batch now)."""
        self._devices, self._cells = {}, 0

    def cut(self) -> DataBatch | None:
        """Everything buffered as one batch with the next seq; None when empty."""
        batch = self.build()
        self.clear()
        return batch
