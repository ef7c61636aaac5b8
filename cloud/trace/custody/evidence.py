"""Sensor evidence of one custody interval, from the time series of the devices that
measured its location (the arithmetic is :mod:`cloud.timeseries.kinetics`, read through
:meth:`cloud.timeseries.base.TimeSeriesStore.evidence` on either store).

- **Devices**: the location's device links (``cloud.catalog``: a device measures one
  location from ``since`` until ``until``), each clipped to the interval. The interval
  is cut where a link begins or ends (*slices*); each device is read over each slice it
  measured (an *element*: one sensorElement of the evidence event).
- **Metrics**: the device's temperature and humidity metrics as the device registry
  (``cloud.devices``) lists them (``temperature``, ``temp_c``, ... and ``humidity``,
  ``rh``, ...; the catalog's order of preference; then a reefer's probes ``temp1``..
  ``temp4``); a device the registry does not know (a vehicle whose phone sends
  ``temp1`` by OsmAnd) by the metrics its newest readings carry, else as
  ``temperature``/``humidity``.
- **Poll interval** (each reading weighs until the next, at most twice it): the device
  registry records none today (a gateway's birth inventory carries none), so it is
  the one the readings show: the roll-up job's hold cap of the interval's hours (2x
  the cadence of each hour's readings, :mod:`cloud.timeseries.rollup_sums`; the most
  common one), else the cadence of the first hour's raw readings
  (:func:`cloud.timeseries.kinetics.poll_interval_ms`), else
  :data:`DEFAULT_POLL_INTERVAL_S`. Evidence asked with the roll-ups' own poll interval
  is exact from them.
- **Counties**: the readings the location's county holds (a wired device is of a
  gateway of that county, a tag registered there).
- **Summary** over the elements: range, duration-weighted mean, MKT from the summed
  Arrhenius terms; time outside per slice the worst device's, summed; the longest single
  excursion the longest of any device; coverage per slice the best device's, over the
  whole interval (a slice no device measured is a gap).
- **Status**: ``excursion`` when the longest single excursion or the cumulative time
  outside passes the profile's limits (temperature, and humidity when the profile has a
  humidity range; from roll-ups these are upper bounds, so a decision never passes on a
  guess); else ``insufficient_data`` when the temperature coverage is below
  :data:`MIN_COVERAGE` (a gap is never compliant); else ``no_profile`` when the lot's
  product has no commodity profile (figures without a judgement); else ``pass``.
  ``no_devices`` when no device measured the location during the interval.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.push import HUMIDITY_METRICS, TEMPERATURE_METRICS
from cloud.catalog.service import device_links
from cloud.catalog.storage import CommodityProfile, Location
from cloud.devices.storage import Device
from cloud.timeseries import TimeSeriesStore
from cloud.timeseries.evidence import EvidenceReads
from cloud.timeseries.kinetics import Evidence, arrhenius, mkt_from_sums, poll_interval_ms
from cloud.timeseries.rollup import rollup_state
from cloud.timeseries.windows import HOUR_MS

#: Temperature metrics in order of preference: a room's, then a reefer's probes
#: (``protocol/positions.py``: a truck's ``temp1``.. from its gateway or phone).
TEMPERATURE_PREFERENCE = (*TEMPERATURE_METRICS, "temp1", "temp2", "temp3", "temp4")

#: The poll interval assumed when neither the registry nor the readings tell it, s.
DEFAULT_POLL_INTERVAL_S = 60.0
#: Below this share of the interval with temperature data, evidence is insufficient.
MIN_COVERAGE = 0.9

Status = Literal["pass", "excursion", "insufficient_data", "no_profile", "no_devices"]
Quantity = Literal["temperature", "humidity"]
PollSource = Literal["rollups", "readings", "default"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The commodity profile's range and excursion limits (None: no profile)."""

    profile_id: int
    temp_min_c: float
    temp_max_c: float
    single_excursion_max_s: int
    cumulative_excursion_max_s: int
    rh_min: float | None
    rh_max: float | None

    @classmethod
    def of(cls, profile: CommodityProfile) -> Limits:
        return cls(
            profile.id,
            profile.temp_min_c,
            profile.temp_max_c,
            profile.single_excursion_max_s,
            profile.cumulative_excursion_max_s,
            profile.rh_min,
            profile.rh_max,
        )

    def range_of(self, q: Quantity) -> tuple[float | None, float | None]:
        return (
            (self.temp_min_c, self.temp_max_c) if q == "temperature" else (self.rh_min, self.rh_max)
        )


@dataclass(frozen=True, slots=True)
class Element:
    """One device over one slice: its evidence per quantity it measures."""

    device: str
    start_ms: int
    end_ms: int
    readings: dict[Quantity, Evidence]
    poll_interval_s: dict[Quantity, float]
    poll_source: dict[Quantity, PollSource]


@dataclass(frozen=True, slots=True)
class Summary:
    """One quantity over the whole interval (see the module's docstring)."""

    n: int
    min: float | None
    max: float | None
    mean: float | None
    mkt: float | None
    seconds_below: float
    seconds_above: float
    longest_excursion_s: float
    cumulative_excursion_s: float
    uncertain_s: float
    covered_s: float
    coverage: float
    low: float | None
    high: float | None
    source: Literal["raw", "rollup"]

    @classmethod
    def of(cls, ev: Evidence) -> Summary:
        """One device's evidence as a summary of its own."""
        return cls(
            ev.n, ev.min, ev.max, ev.mean, ev.mkt, ev.seconds_below, ev.seconds_above,
            ev.longest_excursion_s, ev.cumulative_excursion_s, ev.uncertain_s, ev.covered_s,
            ev.coverage, ev.low, ev.high, ev.source,
        )  # fmt: skip


@dataclass(slots=True)
class IntervalEvidence:
    start_ms: int
    end_ms: int
    elements: list[Element] = field(default_factory=list)
    summary: dict[Quantity, Summary] = field(default_factory=dict)
    status: Status = "no_devices"
    limits: Limits | None = None


def pick_metric(metrics: Sequence[str] | None, wanted: tuple[str, ...]) -> str | None:
    """The first of ``wanted`` the device reports (None: it reports none of them)."""
    known = set(metrics or ())
    return next((m for m in wanted if m in known), None)


def ms(t: datetime) -> int:
    """An aware datetime (the store's) as epoch milliseconds."""
    return round(t.astimezone(UTC).timestamp() * 1000)


async def device_periods(
    session: AsyncSession, location_id: int, start_ms: int, end_ms: int
) -> list[tuple[str, int, int]]:
    """``(device, start, end)`` of each link of the location, clipped to the interval."""
    out = []
    for link in await device_links(session, location_id):
        a = max(start_ms, ms(link.since))
        b = end_ms if link.until is None else min(end_ms, ms(link.until))
        if b > a:
            out.append((link.device_id, a, b))
    return out


def slices(
    periods: Sequence[tuple[str, int, int]], start_ms: int, end_ms: int
) -> list[tuple[int, int, list[str]]]:
    """The interval cut at every period boundary: ``(a, b, devices measuring all of it)``,
    only the pieces some device measured."""
    cuts = sorted({start_ms, end_ms, *(t for _, a, b in periods for t in (a, b))})
    out = []
    for a, b in pairwise(cuts):
        devices = sorted({d for d, s, e in periods if s <= a and e >= b})
        if devices:
            out.append((a, b, devices))
    return out


async def poll_interval(
    store: TimeSeriesStore,
    measurement: str,
    device: str,
    metric: str,
    start_ms: int,
    end_ms: int,
    counties: list[str],
) -> tuple[float, PollSource]:
    """The poll interval of ``device``'s ``metric`` over the interval (module docstring)."""
    first_hour = start_ms // HOUR_MS * HOUR_MS
    data = await store.evidence_reads(
        measurement,
        device,
        metric,
        EvidenceReads(rollups=(("1h", (first_hour, end_ms)),)),
        counties=counties,
    )
    holds = Counter(
        round(float(parts["hold"]) * 1000)
        for parts in data.rollups[0].values()
        if float(parts.get("hold") or 0) > 0
    )
    if holds:
        hold_ms = holds.most_common(1)[0][0]
        return hold_ms / 2000.0, "rollups"
    data = await store.evidence_reads(
        measurement,
        device,
        metric,
        EvidenceReads(raw=((start_ms, min(end_ms, start_ms + HOUR_MS)),)),
        counties=counties,
    )
    ts, _ = data.raw[0]
    found = poll_interval_ms(ts)
    if found is not None:
        return found / 1000.0, "readings"
    return DEFAULT_POLL_INTERVAL_S, "default"


async def _element(
    session: AsyncSession,
    store: TimeSeriesStore,
    device: str,
    metrics: dict[Quantity, str],
    start_ms: int,
    end_ms: int,
    counties: list[str],
    limits: Limits | None,
    now_ms: int | None,
    optional: frozenset[Quantity] = frozenset(),
) -> Element:
    """The device's evidence over [start, end); a quantity of ``optional`` (guessed
    metric names) is left out when the device has no reading of it there."""
    readings: dict[Quantity, Evidence] = {}
    polls: dict[Quantity, float] = {}
    how: dict[Quantity, PollSource] = {}
    measurement = await store.measurement_of(device, counties=counties)
    for q, metric in metrics.items():
        if measurement is None:
            poll, src = DEFAULT_POLL_INTERVAL_S, "default"
        else:
            poll, src = await poll_interval(
                store, measurement, device, metric, start_ms, end_ms, counties
            )
        low, high = limits.range_of(q) if limits is not None else (None, None)
        ev = await store.evidence(
            device,
            metric,
            start_ms,
            end_ms,
            counties=counties,
            poll_interval_s=poll,
            low=low,
            high=high,
            measurement=measurement,
            rollups=partial(rollup_state, session),
            now_ms=now_ms,
        )
        if q in optional and ev.n == 0 and ev.covered_s == 0:
            continue
        readings[q], polls[q], how[q] = ev, poll, src
    return Element(device, start_ms, end_ms, readings, polls, how)


def summarise(
    elements: Sequence[Element],
    cuts: Sequence[tuple[int, int, list[str]]],
    q: Quantity,
    start_ms: int,
    end_ms: int,
) -> Summary | None:
    """One quantity over the interval (module docstring); None when no element has it."""
    having = [e for e in elements if q in e.readings]
    if not having:
        return None
    evs = [e.readings[q] for e in having]
    with_data = [ev for ev in evs if ev.covered_s > 0]
    covered = below = above = cumulative = uncertain = 0.0
    for a, b, _ in cuts:
        here = [e.readings[q] for e in having if e.start_ms <= a and e.end_ms >= b]
        if not here:
            continue
        covered += max(ev.covered_s for ev in here)
        below += max(ev.seconds_below for ev in here)
        above += max(ev.seconds_above for ev in here)
        cumulative += max(ev.cumulative_excursion_s for ev in here)
        uncertain += max(ev.uncertain_s for ev in here)
    weight = sum(ev.covered_s for ev in with_data)
    mean = (
        math.fsum(ev.mean * ev.covered_s for ev in with_data if ev.mean is not None) / weight
        if weight > 0
        else None
    )
    mkt = None
    if q == "temperature" and weight > 0:
        arr = math.fsum(arrhenius(ev.mkt) * ev.covered_s for ev in with_data if ev.mkt is not None)
        mkt = mkt_from_sums(arr, weight)
    length = (end_ms - start_ms) / 1000.0
    return Summary(
        n=sum(ev.n for ev in evs),
        min=min((ev.min for ev in with_data if ev.min is not None), default=None),
        max=max((ev.max for ev in with_data if ev.max is not None), default=None),
        mean=mean,
        mkt=mkt,
        seconds_below=below,
        seconds_above=above,
        longest_excursion_s=max((ev.longest_excursion_s for ev in evs), default=0.0),
        cumulative_excursion_s=cumulative,
        uncertain_s=uncertain,
        covered_s=covered,
        coverage=min(1.0, covered / length) if length > 0 else 0.0,
        low=evs[0].low,
        high=evs[0].high,
        source="rollup" if any(ev.source == "rollup" for ev in evs) else "raw",
    )


def status_of(summary: dict[Quantity, Summary], limits: Limits | None, any_device: bool) -> Status:
    """The interval's status (module docstring)."""
    if not any_device:
        return "no_devices"
    if limits is not None:
        for q, s in summary.items():
            low, high = limits.range_of(q)
            if low is None and high is None:
                continue
            if (
                s.longest_excursion_s > limits.single_excursion_max_s
                or s.cumulative_excursion_s > limits.cumulative_excursion_max_s
            ):
                return "excursion"
    temp = summary.get("temperature")
    if temp is None or temp.coverage < MIN_COVERAGE:
        return "insufficient_data"
    return "pass" if limits is not None else "no_profile"


async def _metrics_seen(store: TimeSeriesStore, device: str, counties: list[str]) -> list[str]:
    """The metrics of a device's newest readings (none: no readings)."""
    measurement = await store.measurement_of(device, counties=counties)
    if measurement is None:
        return []
    return sorted({v.metric for v in await store.latest(measurement, device, counties=counties)})


async def interval_evidence(
    session: AsyncSession,
    store: TimeSeriesStore,
    location: Location,
    start_ms: int,
    end_ms: int,
    limits: Limits | None,
    *,
    now_ms: int | None = None,
) -> IntervalEvidence:
    """The evidence of [start, end) at ``location`` (module docstring)."""
    out = IntervalEvidence(start_ms, end_ms, limits=limits)
    periods = await device_periods(session, location.id, start_ms, end_ms)
    if not periods:
        return out
    cuts = slices(periods, start_ms, end_ms)
    devices = sorted({d for d, _, _ in periods})
    registry = {
        d.id: d.metrics for d in await session.scalars(select(Device).where(Device.id.in_(devices)))
    }
    counties = [location.county]
    for device in devices:
        if device not in registry:  # not in the registry: what its readings carry
            seen = await _metrics_seen(store, device, counties)
            if seen:
                registry[device] = seen
    for a, b, here in cuts:
        for device in here:
            known = registry.get(device)
            metrics: dict[Quantity, str] = {}
            optional: frozenset[Quantity] = frozenset()
            temp = pick_metric(known, TEMPERATURE_PREFERENCE)
            rh = pick_metric(known, HUMIDITY_METRICS)
            if known is None:  # not in the registry: its metrics are guessed
                temp, rh = TEMPERATURE_METRICS[0], HUMIDITY_METRICS[0]
                optional = frozenset({"humidity"})
            if temp is not None:
                metrics["temperature"] = temp
            if rh is not None:
                metrics["humidity"] = rh
            out.elements.append(
                await _element(
                    session, store, device, metrics, a, b, counties, limits, now_ms, optional
                )
            )
    for q in ("temperature", "humidity"):
        s = summarise(out.elements, cuts, q, start_ms, end_ms)  # type: ignore[arg-type]
        if s is not None:
            out.summary[q] = s  # type: ignore[index]
    out.status = status_of(out.summary, limits, True)
    return out
