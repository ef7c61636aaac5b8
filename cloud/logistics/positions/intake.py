"""Accepting fixes: find the tracker, convert the speed, filter, then store.

One :class:`PositionIntake` per process. A request's fixes are checked in full
before anything is stored (bad input refuses the request, nothing stored). The
good fixes of concurrent requests are stored together (group commit, up to
``flush_concurrency`` at once), each request answered after its fixes are in the
time series and their windows marked (:mod:`.marks`: a relational mark before the
write for a window this process holds no mark of, else one shared read after it).

A window a fix duplicates is treated as touched too (see :mod:`.marks`: the resend
of a fix whose process died before its check marks it). Counts per tracker are
statistics, kept in memory and flushed every ``counts_flush_s`` (:mod:`.counts`),
added once the request's fixes are stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cloud.db import Database
from cloud.logistics.positions import dirty, trackers
from cloud.logistics.positions.afterwrite import AfterWrite
from cloud.logistics.positions.config import PositionSettings
from cloud.logistics.positions.counts import CountBuffer
from cloud.logistics.positions.fix import Fix, FixError
from cloud.logistics.positions.geo import haversine_m
from cloud.logistics.positions.groupcommit import GroupCommit
from cloud.logistics.positions.marks import WindowKey, WindowMarks
from cloud.logistics.positions.metrics import PositionMetrics
from cloud.logistics.positions.parse import Parsed
from cloud.timeseries import Point, PointBlock, TimeSeriesStore
from cloud.timeseries.rollup import Marker, point_minutes
from protocol import positions as pos

log = logging.getLogger(__name__)

#: ``(blocks)`` after a write: what the intake stored (one block per vehicle).
Written = Callable[[Sequence[PointBlock]], None]


class UnknownDevice(Exception):
    """No live tracker has this device id (unknown, rotated away or revoked)."""


@dataclass(frozen=True, slots=True)
class TrackerInfo:
    id: int
    vehicle: str
    county: str
    speed_unit: str


@dataclass
class _Lookup:
    """A tracker lookup by the device id's hash, answered by a shared query."""

    key: str
    info: TrackerInfo | None = None


@dataclass
class Outcome:
    accepted: int = 0
    filtered: Counter[str] = field(default_factory=Counter)


@dataclass
class _Job:
    tracker: TrackerInfo
    fixes: list[Fix]
    counts: Counter[str]
    #: fix times of duplicates (their windows are checked like the fixes')
    duplicates: list[int]


class PositionIntake:
    def __init__(
        self,
        db: Database,
        tsdb: TimeSeriesStore,
        settings: PositionSettings | None = None,
        *,
        metrics: PositionMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.tsdb = tsdb
        self.settings = settings or PositionSettings()
        self.metrics = metrics or PositionMetrics()
        self.clock = clock
        self._trackers: dict[str, tuple[float, TrackerInfo | None]] = {}
        #: newest stored fix per vehicle: (ts_ms, lat, lon)
        self._last: dict[str, tuple[int, float, float]] = {}
        self._group: GroupCommit[_Job] = GroupCommit(
            self._flush, concurrency=self.settings.flush_concurrency
        )
        self._lookups: GroupCommit[_Lookup] = GroupCommit(self._look_up)
        #: tracker queries made (each answers every lookup waiting then)
        self.tracker_queries = 0
        self.marks = WindowMarks(db)
        self.counts = CountBuffer(db, self.settings.counts_flush_s)
        # as ingest's workers: a minute re-marked at most every 10 s (the roll-up job
        # settles a minute 20 s after its last mark), its series' write count bumped always
        # (its write-count bumps alone one statement each, synchronous_commit off for
        # it: see Marker.lazy_bumps; readers see each before the fix is answered)
        self._rollups = Marker(db, remark_after_s=10.0, lazy_bumps=True)
        #: on PostgreSQL, the statement after each write (:mod:`.afterwrite`)
        self._after = AfterWrite(db) if db.engine.dialect.name == "postgresql" else None
        #: called after each time-series write with the blocks written (module doc)
        self.written: list[Written] = []

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def close(self) -> None:
        await self._group.close()
        await self._lookups.close()
        await self.marks.close()
        await self.counts.close()
        await self._rollups.close()
        if self._after is not None:
            await self._after.close()

    async def tracker(self, device_id: str) -> TrackerInfo:
        """The live tracker of ``device_id`` (cached ``tracker_cache_s``), else UnknownDevice."""
        key = trackers.token_hash(device_id)
        now = time.monotonic()
        hit = self._trackers.get(key)
        if hit is not None and now - hit[0] < self.settings.tracker_cache_s:
            info = hit[1]
        else:
            # concurrent lookups (many phones whose cached entries ran out together) are
            # one query, on one connection
            lookup = _Lookup(key)
            await self._lookups.submit(lookup)
            info = lookup.info
            if len(self._trackers) > 100_000:
                self._trackers.clear()
            self._trackers[key] = (now, info)
        if info is None:
            raise UnknownDevice(device_id)
        return info

    async def _look_up(self, lookups: list[_Lookup]) -> None:
        self.tracker_queries += 1
        async with self.db.session() as s:
            rows = await trackers.by_token_hashes(s, sorted({x.key for x in lookups}))
        for x in lookups:
            row = rows.get(x.key)
            if row is not None:
                x.info = TrackerInfo(row.id, row.vehicle, row.county, row.speed_unit)

    async def accept(self, parsed: Sequence[Parsed], form: str) -> Outcome:
        """Store the fixes of one request (one device). Raises FixError (bad input),
        UnknownDevice, or the store's error; nothing is stored then."""
        if not parsed:
            raise FixError("body", "no fixes")
        device_id = parsed[0].device_id
        for i, p in enumerate(parsed):
            if p.device_id != device_id:
                raise FixError(f"[{i}].device_id", "every fix of one request is of one device")
        info = await self.tracker(device_id)
        fixes = [self._speed(p, info, len(parsed) > 1, i) for i, p in enumerate(parsed)]
        outcome = Outcome()
        duplicates: list[int] = []
        keep = await self._filter(info, fixes, outcome.filtered, duplicates)
        counts = Counter(outcome.filtered)
        if keep:
            counts["accepted"] = len(keep)
        if keep or duplicates:
            await self._group.submit(_Job(info, keep, counts, duplicates))
        self.counts.add(info.id, counts)
        outcome.accepted = len(keep)
        self.metrics.accepted[form] += len(keep)
        self.metrics.filtered.update(outcome.filtered)
        if keep:
            newest = max(keep, key=lambda f: f.ts_ms)
            last = self._last.get(info.vehicle)
            if last is None or newest.ts_ms > last[0]:
                self._last[info.vehicle] = (newest.ts_ms, newest.lat, newest.lon)
        return outcome

    def _speed(self, p: Parsed, info: TrackerInfo, many: bool, i: int) -> Fix:
        fix = p.fix
        if p.speed_raw is not None:
            kmh = p.speed_raw * pos.KMH_PER[info.speed_unit]
            reason = pos.check_position_value(pos.SPEED_KMH, kmh)
            if reason is not None:
                where = f"locations[{i}].speed" if many else "speed"
                raise FixError(where, f"{reason} (given {p.speed_raw!r} {info.speed_unit})")
            fix.speed_kmh = kmh
        return fix

    async def _filter(
        self,
        info: TrackerInfo,
        fixes: list[Fix],
        filtered: Counter[str],
        duplicates: list[int],
    ) -> list[Fix]:
        s = self.settings
        now = self.now_ms()
        ordered = sorted(fixes, key=lambda f: f.ts_ms)
        candidates: list[Fix] = []
        for fix in ordered:
            if s.filter_invalid and not fix.valid:
                filtered["invalid"] += 1
            elif s.filter_zero and fix.lat == 0.0 and fix.lon == 0.0:
                filtered["zero"] += 1
            elif s.future_skew_s and fix.ts_ms > now + s.future_skew_s * 1000:
                filtered["future"] += 1
            elif (
                s.max_accuracy_m
                and fix.accuracy_m is not None
                and fix.accuracy_m > s.max_accuracy_m
            ):
                filtered["accuracy"] += 1
            else:
                candidates.append(fix)
        if not candidates:
            return []
        stored = await self._stored_around(info, candidates[0].ts_ms, candidates[-1].ts_ms)
        stored_ts = {ts for ts, _, _ in stored}
        # every fix in time order, stored ones as reference points for the jump filter
        events: list[tuple[int, int, Fix | tuple[float, float]]] = [
            (ts, 0, (lat, lon)) for ts, lat, lon in stored
        ]
        events += [(f.ts_ms, 1, f) for f in candidates]
        events.sort(key=lambda e: (e[0], e[1]))
        keep: list[Fix] = []
        seen: set[int] = set()
        prev: tuple[int, float, float] | None = None
        for ts, kind, item in events:
            if kind == 0:
                assert isinstance(item, tuple)
                prev = (ts, item[0], item[1])
                continue
            assert isinstance(item, Fix)
            if s.filter_duplicate and (ts in stored_ts or ts in seen):
                filtered["duplicate"] += 1
                duplicates.append(ts)
                continue
            if s.max_speed_kmh and prev is not None and ts > prev[0]:
                d = haversine_m(prev[1], prev[2], item.lat, item.lon)
                kmh = d / ((ts - prev[0]) / 1000.0) * 3.6
                if d > s.jump_min_m and kmh > s.max_speed_kmh:
                    filtered["jump"] += 1
                    continue
            seen.add(ts)
            keep.append(item)
            prev = (ts, item.lat, item.lon)
        return keep

    async def _stored_around(
        self, info: TrackerInfo, first_ms: int, last_ms: int
    ) -> list[tuple[int, float, float]]:
        """Stored fixes in [first - lookback, last] (the previous one for the jump
        filter, and those a new fix could duplicate); none read when the newest stored
        fix known to this process is older than ``first`` (the live case)."""
        cached = self._last.get(info.vehicle)
        if cached is not None and cached[0] < first_ms:
            return [cached]
        lookback = 6 * 3_600_000
        rows = await self.tsdb.raw_rows(
            pos.MEASUREMENT, info.vehicle, first_ms - lookback, last_ms + 1, counties=[info.county]
        )
        out = [(ts, f[pos.LAT], f[pos.LON]) for ts, f in rows if pos.LAT in f and pos.LON in f]
        before = [r for r in out if r[0] < first_ms]
        return before[-1:] + [r for r in out if r[0] >= first_ms]

    async def _flush(self, jobs: list[_Job]) -> None:
        windows: set[WindowKey] = set()
        for job in jobs:
            vehicle, county = job.tracker.vehicle, job.tracker.county
            windows.update((vehicle, county, dirty.window_of(f.ts_ms)) for f in job.fixes)
            windows.update((vehicle, county, dirty.window_of(ts)) for ts in job.duplicates)
        held = await self.marks.before_write(windows)
        points = [
            Point(
                pos.MEASUREMENT,
                job.tracker.vehicle,
                job.tracker.county,
                "",
                fix.ts_ms,
                fix.fields(),
            )
            for job in jobs
            for fix in job.fixes
        ]
        if points:
            await self.tsdb.write(points)
            # the hours written get their roll-ups (re)computed, as ingest's writes do
            # (unmarked, the evidence would take the (missing) roll-ups for current),
            # beside the windows' check: independent, both done before the answer
            if self._after is not None:
                await self._after_write_pg(windows, held, points)
            else:
                await asyncio.gather(
                    self.marks.after_write(windows, held), self._rollups.mark(points)
                )
            if self.written:
                self._hooks(points)
        elif self._after is not None:
            await self.marks.checked(windows, held, await self._after.run(held, None))
        else:
            await self.marks.after_write(windows, held)

    async def _after_write_pg(
        self, windows: set[WindowKey], held: frozenset[WindowKey], points: list[Point]
    ) -> None:
        """On PostgreSQL: the windows' check and the series' lazy bump in one statement
        (:mod:`.afterwrite`); minutes to mark (the first write to a minute in
        ``remark_after_s``) are marked beside it, in their own transaction."""
        assert self._after is not None
        minutes = point_minutes(points)
        series = self._rollups.lazy_series(minutes)
        if series is None:
            _, still = await asyncio.gather(
                self._rollups.mark_minutes(minutes), self._after.run(held, None)
            )
        else:
            still = await self._after.run(held, series)
        await self.marks.checked(windows, held, still)

    def _hooks(self, points: list[Point]) -> None:
        by_series: dict[tuple[str, str], list[Point]] = {}
        for p in points:
            by_series.setdefault((p.device, p.county), []).append(p)
        blocks = []
        for (device, county), pts in by_series.items():
            names = sorted({k for p in pts for k in p.fields})
            columns = {k: [p.fields.get(k) for p in pts] for k in names}
            ts = [p.ts_ms for p in pts]
            blocks.append(PointBlock(pos.MEASUREMENT, device, county, "", ts, columns))
        for hook in self.written:
            try:
                hook(blocks)
            except Exception:
                log.exception("positions: post-write hook %r failed; the write stands", hook)
