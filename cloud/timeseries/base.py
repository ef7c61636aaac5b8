from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime

    from cloud.timeseries.evidence import EvidenceData, EvidenceReads, RollupStateOf, SourceAsked
    from cloud.timeseries.kinetics import Evidence
    from cloud.timeseries.windows import PartsByDevice, Resolution, Span

#: A metric's non-zero quality flags are stored beside it as the float field "{metric}__q".
QUALITY_SUFFIX = "__q"

Aggregate = Literal["mean", "min", "max", "count"]

#: Every read takes ``counties``: only points tagged with one of these counties are
#: read (a county user's own; None: every county, for a prefecture admin or a job).
#: A device's readings belong to the county they were stored under, so a device that
#: moved between counties shows each county its own readings only.
Counties = Sequence[str] | None


class TimeSeriesError(RuntimeError):
    """The store refused or could not take a request.

    ``retryable`` is true for outages (connection refused, timeouts, 5xx, and every
    refusal that is not about the data: bad credentials, a missing database): the
    caller keeps the data and tries again. False means the data itself was refused
    (a type conflict, an unparsable line, a point outside retention): retrying will
    not help. ``status`` is the HTTP status when the store answered, else None.
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point: measurement, tags (county, site, device), float fields."""

    measurement: str
    device: str
    county: str
    site: str
    ts_ms: int
    fields: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PointBlock:
    """Points of one series in columns, the way ingest receives them.

    One point per entry of ``ts_ms``; its fields are the columns' values at that
    position (``None``: no such field at that instant). Every position has at least
    one field. Columns are shared, not copied: nobody mutates them.
    """

    measurement: str
    device: str
    county: str
    site: str
    ts_ms: Sequence[int]
    columns: Mapping[str, Sequence[float | None]]

    def __len__(self) -> int:
        return len(self.ts_ms)

    def point(self, i: int) -> Point:
        fields = {k: v for k, column in self.columns.items() if (v := column[i]) is not None}
        return Point(self.measurement, self.device, self.county, self.site, self.ts_ms[i], fields)

    def points(self) -> list[Point]:
        return [self.point(i) for i in range(len(self.ts_ms))]

    def slice(self, start: int, stop: int) -> PointBlock:
        return PointBlock(
            self.measurement,
            self.device,
            self.county,
            self.site,
            self.ts_ms[start:stop],
            {k: column[start:stop] for k, column in self.columns.items()},
        )


@dataclass(frozen=True, slots=True)
class LatestValue:
    metric: str
    ts_ms: int
    value: float
    quality: int = 0


@dataclass(frozen=True, slots=True)
class Bucket:
    """One window of a range query. ``ts_ms`` is the window start (epoch aligned)."""

    ts_ms: int
    mean: float | None
    min: float | None
    max: float | None
    count: int
    #: Mean kinetic temperature (°C) of the window, from roll-ups of temperature metrics.
    mkt: float | None = None


def fold_quality(newest: dict[str, tuple[int, float]]) -> list[LatestValue]:
    """Newest ``(ts_ms, value)`` per field -> LatestValues, each metric with its
    ``{metric}__q`` flags when they belong to the same instant."""
    out = []
    for name, (ts, value) in sorted(newest.items()):
        if name.endswith(QUALITY_SUFFIX):
            continue
        q = newest.get(name + QUALITY_SUFFIX)
        quality = int(q[1]) if q is not None and q[0] == ts else 0
        out.append(LatestValue(name, ts, value, quality))
    return out


#: Raw points as columns: the instants by time, and each field's value at each
#: (None: the field was not written at that instant).
RawColumns = tuple[list[int], dict[str, list[float | None]]]


def columns_of_rows(rows: Sequence[tuple[int, Mapping[str, float]]]) -> RawColumns:
    names = dict.fromkeys(k for _, f in rows for k in f)
    return [t for t, _ in rows], {n: [f.get(n) for _, f in rows] for n in names}


class TimeSeriesStore(abc.ABC):
    """What ingest and the API need from a time-series database, and no more."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create the database and retention policy if missing (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the store answers."""

    @abc.abstractmethod
    async def write(self, points: Sequence[Point]) -> None:
        """Write points; idempotent. Raises TimeSeriesError."""

    async def write_blocks(self, blocks: Sequence[PointBlock]) -> None:
        """Write points given in columns: the same as :meth:`write` of their points
        (a store may render them without making the points)."""
        await self.write([p for block in blocks for p in block.points()])

    @abc.abstractmethod
    async def latest(
        self, measurement: str, device: str, *, counties: Counties = None
    ) -> list[LatestValue]:
        """The newest value of every metric of one device (quality fields folded in)."""

    async def range(
        self,
        measurement: str,
        device: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        every_ms: int,
        *,
        counties: Counties = None,
    ) -> list[Bucket]:
        """Windows of ``every_ms`` over [start, end) of raw data: mean, min, max, count."""
        out = await self.aggregate(
            measurement, [device], metric, start_ms, end_ms, every_ms, "raw", counties=counties
        )
        return out.get(device, [])

    async def aggregate(
        self,
        measurement: str,
        devices: Sequence[str],
        metric: str,
        start_ms: int,
        end_ms: int,
        every_ms: int,
        resolution: Resolution,
        *,
        counties: Counties = None,
    ) -> dict[str, list[Bucket]]:
        """Windows of ``every_ms`` over [start, end) per device, from raw data or the
        1-min / 1-h roll-ups; windows aligned so Beijing midnight is a boundary."""
        parts = await self.aggregate_parts(
            measurement,
            devices,
            metric,
            [(start_ms, end_ms)],
            every_ms,
            resolution,
            counties=counties,
        )
        return {
            device: [p.bucket(w) for w, p in sorted(windows.items())]
            for device, windows in parts.items()
        }

    @abc.abstractmethod
    async def aggregate_parts(
        self,
        measurement: str,
        devices: Sequence[str] | None,
        metric: str,
        spans: Sequence[Span],
        every_ms: int,
        resolution: Resolution,
        *,
        mkt: bool = False,
        counties: Counties = None,
    ) -> PartsByDevice:
        """The additive parts (Σ, min, max, count, Σexp(−ΔH/RT)) of the windows of
        ``every_ms`` per device, over the union of the half-open ``spans`` (disjoint),
        read at ``resolution``; windows with no data are absent. Σexp(−ΔH/RT) comes
        from the roll-ups of temperatures, and from raw points when ``mkt`` is set.
        Only what is stored under ``counties`` (raw points and roll-ups alike).
        ``devices`` None: every device of the measurement (the wall's aggregates)."""

    async def aggregate_plan(
        self,
        measurement: str,
        devices: Sequence[str] | None,
        metric: str,
        plan: Mapping[Resolution, Sequence[Span]],
        every_ms: int,
        *,
        mkt: bool = False,
        counties: Counties = None,
    ) -> dict[Resolution, PartsByDevice]:
        """:meth:`aggregate_parts` of several resolutions' spans at once (a store may
        answer them in one request)."""
        out: dict[Resolution, PartsByDevice] = {}
        for resolution, spans in plan.items():
            if spans:
                out[resolution] = await self.aggregate_parts(
                    measurement,
                    devices,
                    metric,
                    spans,
                    every_ms,
                    resolution,
                    mkt=mkt,
                    counties=counties,
                )
        return out

    @abc.abstractmethod
    async def raw_rows(
        self,
        measurement: str,
        device: str,
        start_ms: int,
        end_ms: int,
        *,
        counties: Counties = None,
    ) -> list[tuple[int, dict[str, float]]]:
        """Raw points of one device in [start, end): ``(ts_ms, fields)`` by time."""

    async def raw_columns(
        self,
        measurement: str,
        device: str,
        start_ms: int,
        end_ms: int,
        *,
        counties: Counties = None,
    ) -> RawColumns:
        """:meth:`raw_rows` as columns (for a reader that wants them so: fewer objects)."""
        return columns_of_rows(
            await self.raw_rows(measurement, device, start_ms, end_ms, counties=counties)
        )

    @abc.abstractmethod
    async def write_rollups(self, resolution: Resolution, points: Sequence[Point]) -> None:
        """Write roll-up points (fields ``{metric}_{mean,min,max,count,sum,mkt}`` and the
        weighted ``{metric}_{w,wsum,wmkt,wmin,wmax,hold}``, :mod:`.rollup_sums`)."""

    async def previous(
        self,
        measurement: str,
        device: str,
        fields: Sequence[str],
        before_ms: int,
        lookback_ms: int,
        *,
        counties: Counties = None,
    ) -> dict[str, tuple[int, float]]:
        """The last reading ``(ts_ms, value)`` of each of ``fields`` in
        [before − lookback, before), where there is one."""
        out: dict[str, tuple[int, float]] = {}
        wanted = set(fields)
        rows = await self.raw_rows(
            measurement, device, before_ms - lookback_ms, before_ms, counties=counties
        )
        for ts, values in rows:
            for name in wanted.intersection(values):
                out[name] = (ts, values[name])
        return out

    async def evidence(
        self,
        device: str,
        metric: str,
        start: int | datetime,
        end: int | datetime,
        *,
        counties: Counties,
        poll_interval_s: float,
        low: float | None = None,
        high: float | None = None,
        measurement: str | None = None,
        source: SourceAsked = "auto",
        rollups: RollupStateOf | None = None,
        now_ms: int | None = None,
    ) -> Evidence:
        """Sensor evidence of ``device``'s ``metric`` over [start, end) (epoch ms or aware
        datetimes) under ``counties``: duration-weighted mean and MKT, range, time outside
        [low, high], coverage (:mod:`cloud.timeseries.evidence`). Each reading weighs
        until the next, at most 2x ``poll_interval_s``. ``source``: ``auto`` (raw data
        where it exists, roll-ups where it has expired; with ``rollups``, the roll-up
        state, current roll-ups stand in for raw readings they equal), ``raw`` or
        ``rollup`` to force one. ``measurement``: found from the device when None."""
        from cloud.timeseries.evidence import evidence

        return await evidence(
            self,
            device,
            metric,
            start,
            end,
            counties=counties,
            poll_interval_s=poll_interval_s,
            low=low,
            high=high,
            measurement=measurement,
            source=source,
            rollups=rollups,
            now_ms=now_ms,
        )

    async def evidence_reads(
        self,
        measurement: str,
        device: str,
        metric: str,
        reads: EvidenceReads,
        *,
        counties: Counties = None,
    ) -> EvidenceData:
        """Everything one evidence pass reads of one metric, in one request where the
        store can (:class:`cloud.timeseries.evidence.EvidenceReads`)."""
        raise NotImplementedError(f"{type(self).__name__} does not read sensor evidence")

    async def measurement_of(self, device: str, *, counties: Counties = None) -> str | None:
        """The measurement holding ``device``'s readings (raw or rolled up) under
        ``counties``; None when there are none. ValueError when several do."""
        raise NotImplementedError(f"{type(self).__name__} does not look devices up")

    @abc.abstractmethod
    async def count(self, measurement: str, device: str | None = None) -> int:
        """How many points a measurement holds (for one device); for tests and checks."""

    async def __aenter__(self) -> TimeSeriesStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
