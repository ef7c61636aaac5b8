"""The excursion engine as a service: it learns which readings were written (from
ingest's post-write hook, :mod:`cloud.ingest.hooks`, or from any writer calling
:meth:`Engine.readings_written`, e.g. logistics for OsmAnd fixes), recomputes the
excursions of each touched stretch by reading time, and reconciles the alarms.

**Why a hook and not a separate consumer.** Ingest (floor 2) must not import the cold
chain (floor 3), so it exposes :class:`cloud.ingest.hooks.IngestHooks`, a registry of
callables it calls after each write (and after each stored gateway event); whoever
builds the worker registers the engine there (:func:`cloud.coldchain.attach`). The
hook only records ``device -> touched [lo, hi]`` and returns, so ingest's write path
never waits on the cold chain; the engine's own task drains the touched devices,
coalescing a backlog's many batches into one recomputation per device. A separate
consumer of what ingest wrote (an outbox table, or the roll-up marks) would add a
polling delay and a table write per batch for the same information; the alarm-latency
goal (publish -> webhook < 5 s) is better met in process. A restart loses only the
touched set of what was being evaluated: :meth:`Engine.recheck` re-evaluates any
device over any stretch (``dehong coldchain recheck``).

**Which devices.** Any device linked (``location_devices``) to a catalog location
with a commodity profile: cold rooms (gateway data), vehicle compartments (a truck
gateway's probes, or an OsmAnd phone's ``temp1``...). Devices without one are
skipped at the cost of one cached lookup.

**Recomputing a stretch.** For readings written in [lo, hi] of a device, the engine
starts at the start of the stored excursion going on at ``lo`` (if any), less the
minimum duration and two hold caps (an unconfirmed run cannot have started earlier
without being stored), and reads to the device's newest reading. The excursions
computed replace the stored ones from there on; earlier stored excursions feed the
cumulative limit. Since the stored excursions are a function of the readings only,
late or out-of-order batches end in the same excursions and alarm counts as the same
readings in order (``tests/cloud/coldchain/test_engine.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.storage import CommodityProfile, Location, LocationDevice
from cloud.coldchain import alarms as lifecycle
from cloud.coldchain.clock import Clock, SystemClock
from cloud.coldchain.excursions import Excursion, evaluate
from cloud.coldchain.rules import (
    DEFROST_METRICS,
    DOOR_METRICS,
    TEMPERATURE_METRICS,
    EngineSettings,
    Rules,
)
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.db import Database
from cloud.timeseries import PointBlock, TimeSeriesStore
from protocol.messages import EventMessage, EventType

log = logging.getLogger(__name__)

#: How long a device's location and rules are cached, s.
LINK_TTL_S = 30.0
#: How far past now a reading may lie (ingest's clock-skew allowance), ms.
FUTURE_MS = 300_000


@dataclass(frozen=True, slots=True)
class Target:
    """A device measuring a location with a profile, and the rules it is judged by."""

    device: str
    county: str
    location_id: int
    org_id: int | None
    location_kind: str
    location_name: str
    rules: Rules
    #: the location's other devices (a door contact, a defrost coil signal)
    peers: tuple[str, ...] = ()


class Engine:
    def __init__(
        self,
        db: Database,
        tsdb: TimeSeriesStore,
        *,
        settings: EngineSettings | None = None,
        clock: Clock | None = None,
        on_raised: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.tsdb = tsdb
        self.settings = settings or EngineSettings()
        self.clock = clock or SystemClock()
        self.on_raised = on_raised
        #: device -> (measurement, lo, hi) waiting to be evaluated
        self._touched: dict[str, tuple[str, int, int]] = {}
        self._events: list[tuple[EventMessage, str]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._targets: dict[str, tuple[float, Target | None]] = {}
        self._newest: dict[str, int] = {}
        self._measurements: dict[str, str] = {}
        self.evaluations = 0
        self.errors = 0

    # ------------------------------------------------------------------ input

    def readings_written(self, blocks: Sequence[PointBlock]) -> None:
        """Readings were written (called by ingest's hook, or by any writer): note the
        stretch each device's readings span; evaluated by :meth:`run`. Never blocks."""
        for b in blocks:
            if not b.ts_ms:
                continue
            if not any(m in b.columns for m in TEMPERATURE_METRICS):
                if not any(m in b.columns for m in (*DOOR_METRICS, *DEFROST_METRICS)):
                    continue
            lo, hi = min(b.ts_ms), max(b.ts_ms)
            old = self._touched.get(b.device)
            if old is not None:
                lo, hi = min(lo, old[1]), max(hi, old[2])
            self._touched[b.device] = (b.measurement, lo, hi)
            self._newest[b.device] = max(self._newest.get(b.device, 0), hi)
        if self._touched:
            self._idle.clear()
            self._wake.set()

    def event_stored(self, ev: EventMessage, county: str) -> None:
        """A gateway event was stored (ingest's hook): its local alarms join the
        lifecycle. Never blocks."""
        if ev.type in (EventType.ALARM, EventType.ALARM_CLEAR):
            self._events.append((ev, county))
            self._idle.clear()
            self._wake.set()

    async def drained(self) -> None:
        """Wait until everything noted so far is evaluated (tests, the bench)."""
        await self._idle.wait()

    # ------------------------------------------------------------------- loop

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.step()

    async def step(self) -> None:
        """Evaluate everything noted so far (the loop's body; tests call it)."""
        while self._touched or self._events:
            events, self._events = self._events, []
            for ev, county in events:
                try:
                    await self.gateway_alarm(ev, county)
                except Exception:
                    self.errors += 1
                    log.exception("cold chain: gateway event %s of %s failed", ev.id, ev.gw)
            touched, self._touched = self._touched, {}
            for device, (measurement, lo, hi) in touched.items():
                try:
                    await self.evaluate_device(device, lo, hi, measurement=measurement)
                except Exception:
                    self.errors += 1
                    log.exception("cold chain: evaluating %s over [%d, %d] failed", device, lo, hi)
        self._idle.set()

    # -------------------------------------------------------------- targets

    async def target(self, device: str) -> Target | None:
        now = self.clock.now()
        cached = self._targets.get(device)
        if cached is not None and now - cached[0] < LINK_TTL_S:
            return cached[1]
        async with self.db.session() as s:
            row = (
                await s.execute(
                    select(Location, CommodityProfile)
                    .join(LocationDevice, LocationDevice.location_id == Location.id)
                    .join(CommodityProfile, CommodityProfile.id == Location.profile_id)
                    .where(LocationDevice.device_id == device, LocationDevice.until.is_(None))
                    .order_by(LocationDevice.since.desc())
                    .limit(1)
                )
            ).first()
        target = None
        if row is not None:
            loc, prof = row
            rules = self.settings.rules(
                low=prof.temp_min_c, high=prof.temp_max_c,
                single_max_s=prof.single_excursion_max_s,
                cumulative_max_s=prof.cumulative_excursion_max_s,
                location_id=loc.id, profile_id=prof.id,
            )  # fmt: skip
            async with self.db.session() as s:
                peers = await s.scalars(
                    select(LocationDevice.device_id).where(
                        LocationDevice.location_id == loc.id,
                        LocationDevice.until.is_(None),
                        LocationDevice.device_id != device,
                    )
                )
                others = tuple(sorted(set(peers)))
            target = Target(
                device, loc.county, loc.id, loc.org_id, loc.kind, loc.name, rules, others
            )
        self._targets[device] = (now, target)
        return target

    async def _measurement(self, device: str) -> str | None:
        found = self._measurements.get(device)
        if found is None:
            found = await self.tsdb.measurement_of(device)
            if found is not None:
                self._measurements[device] = found
        return found

    def forget(self, device: str | None = None) -> None:
        """Drop cached links (after a link or profile change)."""
        if device is None:
            self._targets.clear()
        else:
            self._targets.pop(device, None)

    # ------------------------------------------------------------- evaluate

    async def recheck(self, device: str, start_ms: int, end_ms: int) -> int:
        """Re-evaluate ``device`` over [start, end] now (a restart, a profile change);
        the number of excursions stored from there on."""
        self.forget(device)
        return await self.evaluate_device(device, start_ms, end_ms)

    async def evaluate_device(
        self,
        device: str,
        lo: int,
        hi: int,
        *,
        measurement: str | None = None,
        peer_of: str | None = None,
    ) -> int:
        target = await self.target(device)
        if target is None:
            return 0
        if measurement is None:
            measurement = await self._measurement(device)
            if measurement is None:
                return 0
        self.evaluations += 1
        rules = target.rules
        cap = rules.cap_ms
        # start where no run can be cut: before any stored excursion going on there,
        # and the minimum duration (plus two hold caps) before the new readings
        start = lo - round(rules.min_duration_s * 1000) - 2 * cap
        async with self.db.session() as s:
            going = await s.scalar(
                select(func.min(ColdchainExcursion.start_ms)).where(
                    ColdchainExcursion.device == device,
                    ColdchainExcursion.start_ms < start,
                    or_(ColdchainExcursion.end_ms.is_(None), ColdchainExcursion.end_ms > start),
                )
            )
        if going is not None:
            start = going
        # to the device's newest reading: this process's note of it, and at least up to
        # now (readings a restarted process, or another process, wrote after ``hi``:
        # the stored excursions replaced from ``start`` on must all be recomputed)
        newest = max(hi, self._newest.get(device, 0), round(self.clock.now() * 1000) + FUTURE_MS)
        rows = await self.tsdb.raw_rows(measurement, device, start - cap, newest + 1)
        fields = {f for _, fs in rows for f in fs}
        metrics = [m for m in TEMPERATURE_METRICS if m in fields]
        if not metrics:
            # a door contact or a coil signal of its own: re-evaluate the location's
            # temperature devices over the same stretch
            if not peer_of and target.peers:
                for peer in target.peers:
                    await self.evaluate_device(peer, lo, hi, peer_of=device)
            return 0
        door, defrost = _signals(rows)
        for peer in target.peers:
            m = await self._measurement(peer)
            if m is not None:
                d2, f2 = _signals(await self.tsdb.raw_rows(m, peer, start - cap, newest + 1))
                door, defrost = sorted(door + d2), sorted(defrost + f2)
        stored = 0
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        for metric in metrics:
            pts = [(t, fs[metric]) for t, fs in rows if metric in fs and t >= start]
            async with self.db.transaction() as s:
                earlier = await self._earlier(s, device, metric, start, rules)
                found = evaluate(
                    [t for t, _ in pts], [v for _, v in pts], rules,
                    door=door, defrost=defrost, earlier=earlier,
                )  # fmt: skip
                stored += len(found)
                raised = await self._replace(s, target, metric, start, found, now)
            for alarm_id in raised:
                if self.on_raised is not None:
                    self.on_raised(alarm_id)
        return stored

    async def _earlier(
        self, s: AsyncSession, device: str, metric: str, start: int, rules: Rules
    ) -> list[Excursion]:
        window = round(rules.cumulative_window_s * 1000)
        rows = (
            await s.scalars(
                select(ColdchainExcursion).where(
                    ColdchainExcursion.device == device,
                    ColdchainExcursion.metric == metric,
                    ColdchainExcursion.start_ms < start,
                    ColdchainExcursion.start_ms >= start - window - 86_400_000,
                    ColdchainExcursion.kind == "excursion",
                )
            )
        ).all()
        return [
            Excursion(r.start_ms, r.end_ms, r.duration_s, r.direction, r.peak_c, r.kind)
            for r in rows
        ]

    async def _replace(
        self,
        s: AsyncSession,
        target: Target,
        metric: str,
        start: int,
        found: list[Excursion],
        now: datetime,
    ) -> list[int]:
        """Replace the stored excursions from ``start`` on with ``found`` and reconcile
        their alarms; the ids of alarms raised."""
        device = target.device
        old = (
            await s.scalars(
                select(ColdchainExcursion).where(
                    ColdchainExcursion.device == device,
                    ColdchainExcursion.metric == metric,
                    ColdchainExcursion.start_ms >= start,
                )
            )
        ).all()
        old_alarm = {r.start_ms: (r.alarm_id, r.cumulative_alarm_id) for r in old}
        touched_alarms = {a for r in old for a in (r.alarm_id, r.cumulative_alarm_id) if a}
        await s.execute(
            delete(ColdchainExcursion).where(
                ColdchainExcursion.device == device,
                ColdchainExcursion.metric == metric,
                ColdchainExcursion.start_ms >= start,
            )
        )
        raised: list[int] = []
        rules = target.rules
        for e in found:
            row = ColdchainExcursion(
                device=device, metric=metric, county=target.county,
                location_id=target.location_id, start_ms=e.start_ms, end_ms=e.end_ms,
                duration_s=e.duration_s, direction=e.direction, peak_c=e.peak_c, kind=e.kind,
                door=e.door, single_breach_ms=e.single_breach_ms,
                cumulative_breach_ms=e.cumulative_breach_ms, confirmed_ms=e.confirmed_ms,
                low_c=rules.low, high_c=rules.high, updated_at=now,
            )  # fmt: skip
            if e.kind == "excursion":
                kept, kept_cum = old_alarm.get(e.start_ms, (None, None))
                row.alarm_id = await self._attach(s, target, metric, "range", e, kept, now, raised)
                if e.cumulative_breach_ms is not None:
                    row.cumulative_alarm_id = await self._attach(
                        s, target, metric, "cumulative", e, kept_cum, now, raised
                    )
                touched_alarms.update(a for a in (row.alarm_id, row.cumulative_alarm_id) if a)
            s.add(row)
        await s.flush()
        for alarm_id in sorted(touched_alarms):
            await self._settle(s, alarm_id, now)
        return raised

    async def _attach(
        self,
        s: AsyncSession,
        target: Target,
        metric: str,
        rule: str,
        e: Excursion,
        kept: int | None,
        now: datetime,
        raised: list[int],
    ) -> int:
        if kept is not None:
            # an excursion known before keeps its alarm, even one cleared since
            alarm = await s.get(ColdchainAlarm, kept)
            if alarm is not None:
                return alarm.id
        breach = e.single_breach_ms is not None or rule == "cumulative"
        side = "高于" if e.direction > 0 else "低于"
        bound = target.rules.high if e.direction > 0 else target.rules.low
        cond = lifecycle.Condition(
            county=target.county, device=target.device, metric=metric, rule=rule,
            source="cloud", severity="critical" if breach else "warning",
            first_ms=e.start_ms, last_ms=e.end_ms or e.start_ms, peak_c=e.peak_c,
            message=f"{target.location_name}: {side} {bound} °C · "
            f"{'above' if e.direction > 0 else 'below'} {bound} °C",
            location_id=target.location_id, org_id=target.org_id,
        )  # fmt: skip
        alarm, new = await lifecycle.raise_or_repeat(s, cond, now)
        if new:
            raised.append(alarm.id)
        return alarm.id

    async def _settle(self, s: AsyncSession, alarm_id: int, now: datetime) -> None:
        """Recount an alarm from its excursions (the count, span, peak, severity and
        whether it is active); withdraw it when none is left."""
        alarm = await s.get(ColdchainAlarm, alarm_id)
        if alarm is None or alarm.source != "cloud":
            return
        col = (
            ColdchainExcursion.cumulative_alarm_id
            if alarm.rule == "cumulative"
            else ColdchainExcursion.alarm_id
        )
        rows = (await s.scalars(select(ColdchainExcursion).where(col == alarm_id))).all()
        if not rows:
            await lifecycle.withdraw(s, alarm, now)
            return
        alarm.count = len(rows)
        alarm.first_ms = min(r.start_ms for r in rows)
        alarm.last_ms = max(r.end_ms or r.start_ms for r in rows)
        peaks = [r.peak_c for r in rows]
        alarm.peak_c = max(peaks) if rows[0].direction > 0 else min(peaks)
        if alarm.rule == "cumulative" or any(r.single_breach_ms is not None for r in rows):
            alarm.severity = "critical"
        ongoing = any(r.end_ms is None for r in rows)
        if ongoing and not alarm.active and alarm.status != "cleared":
            alarm.active = True
        elif not ongoing and alarm.active:
            await lifecycle.condition_ended(s, alarm, now)

    # ------------------------------------------------------- gateway alarms

    async def gateway_alarm(self, ev: EventMessage, county: str) -> int | None:
        """A gateway's local ALARM raises (or repeats) an alarm of rule
        ``gateway:{rule}``; its ALARM_CLEAR ends the condition."""
        attrs = ev.attrs or {}
        device = ev.device or ev.gw
        metric = str(attrs.get("metric", "") or "-")[:64]
        rule = f"gateway:{attrs.get('rule', '') or 'local'!s}"[:80]
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        target = await self.target(device)
        async with self.db.transaction() as s:
            if ev.type is EventType.ALARM_CLEAR:
                alarm = await lifecycle.open_alarm(s, device, metric, rule)
                if alarm is not None:
                    alarm.last_ms = max(alarm.last_ms, ev.ts)
                    await lifecycle.condition_ended(s, alarm, now, "cleared by the gateway")
                return alarm.id if alarm else None
            seen = await self._seen_event(s, device, metric, rule, ev.id)
            if seen is not None:  # a resend of an event counted already
                return seen
            value = attrs.get("value")
            cond = lifecycle.Condition(
                county=county, device=device, metric=metric, rule=rule, source="gateway",
                severity="critical" if ev.severity.value == "critical" else "warning",
                first_ms=ev.ts, last_ms=ev.ts,
                peak_c=float(value) if isinstance(value, int | float) else None,
                message=ev.message or "", location_id=target.location_id if target else None,
                org_id=target.org_id if target else None,
            )  # fmt: skip
            alarm, new = await lifecycle.raise_or_repeat(s, cond, now)
            events = [*(alarm.detail or {}).get("events", []), ev.id][-50:]
            alarm.detail = {**(alarm.detail or {}), "events": events, "gateway": ev.gw}
            alarm_id = alarm.id
        if new and self.on_raised is not None:
            self.on_raised(alarm_id)
        return alarm_id

    async def _seen_event(
        self, s: AsyncSession, device: str, metric: str, rule: str, event_id: str
    ) -> int | None:
        alarm = await lifecycle.open_alarm(s, device, metric, rule)
        if alarm is not None and event_id in (alarm.detail or {}).get("events", []):
            return alarm.id
        return None


def _signals(
    rows: Sequence[tuple[int, dict[str, float]]],
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """The door and defrost signals among a device's raw rows."""
    fields = {f for _, fs in rows for f in fs}
    door_m = next((m for m in DOOR_METRICS if m in fields), None)
    defrost_m = next((m for m in DEFROST_METRICS if m in fields), None)
    door = [(t, fs[door_m]) for t, fs in rows if door_m in fs] if door_m else []
    defrost = [(t, fs[defrost_m]) for t, fs in rows if defrost_m in fs] if defrost_m else []
    return door, defrost
