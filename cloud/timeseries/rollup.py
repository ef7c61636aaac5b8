"""The roll-up job: recompute exactly the windows that new (or late) data touched.

Ingest marks every hour of every series it writes (:func:`mark`, into
``rollup_pending``), and every minute (``rollup_pending_minute``, same transaction).
The job (:class:`RollupJob`, run by each ingest worker every
``DEHONG_ROLLUP_INTERVAL_S`` and by ``dehong cloud rollup``) reads the raw points
of each marked hour back, computes its 60 one-minute roll-ups and its one-hour
roll-up (:func:`cloud.timeseries.windows.rollup_fields`, with the duration-weighted
sums of :mod:`cloud.timeseries.rollup_sums`), writes them to the roll-up retention
policies (tables on SQLite), and removes the mark unless new data marked the hour
again meanwhile. A backlog from three days ago marks three-day-old hours, so their
roll-ups change; InfluxDB's continuous queries would have skipped it. Writes
overwrite, so two workers recomputing the same hour agree.

A reading's weight runs into the next hour (up to the hold cap, at most an hour), so
the job also recomputes the hour after each marked hour, from that hour's readings
and the marked hour's last ones.

An hour that live data keeps marking never settles while it lasts; its minutes do,
a minute or two after they end. The job recomputes a settled minute's 1-min roll-up
alone (:func:`recompute_minutes`) and clears that minute's mark, leaving the hour
marked: a read of the live hour then takes its settled minutes from the 1-min
roll-ups and only the last few minutes raw (:mod:`cloud.timeseries.query`). The hour
itself is recomputed, as before, once it settles (its minute marks cleared with it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database, utcnow
from cloud.db.upsert import dialect_insert, upsert
from cloud.timeseries.base import (
    QUALITY_SUFFIX,
    Counties,
    Point,
    PointBlock,
    TimeSeriesError,
    TimeSeriesStore,
)
from cloud.timeseries.kinetics import HOLD_MAX_MS, Reading
from cloud.timeseries.rollup_storage import RollupGeneration, RollupPending, RollupPendingMinute
from cloud.timeseries.rollup_sums import HourSums, hour_sums
from cloud.timeseries.windows import HOUR_MS, MINUTE_MS, rollup_fields

log = logging.getLogger(__name__)


#: (measurement, device, county, hour_ms) -> site. A device's readings stored under two
#: counties (a tag that moved) are two series with roll-ups of their own.
Hours = dict[tuple[str, str, str, int], str]

#: (measurement, device, county, minute_ms) -> site: the minutes a write touched.
Minutes = dict[tuple[str, str, str, int], str]


def point_hours(points: Iterable[Point]) -> Hours:
    return {
        (p.measurement, p.device, p.county, p.ts_ms // HOUR_MS * HOUR_MS): p.site for p in points
    }


def block_hours(blocks: Iterable[PointBlock]) -> Hours:
    hours: Hours = {}
    for b in blocks:
        for h in {t // HOUR_MS * HOUR_MS for t in b.ts_ms}:
            hours[(b.measurement, b.device, b.county, h)] = b.site
    return hours


def point_minutes(points: Iterable[Point]) -> Minutes:
    return {
        (p.measurement, p.device, p.county, p.ts_ms // MINUTE_MS * MINUTE_MS): p.site
        for p in points
    }


def block_minutes(blocks: Iterable[PointBlock]) -> Minutes:
    minutes: Minutes = {}
    for b in blocks:
        for m in {t // MINUTE_MS * MINUTE_MS for t in b.ts_ms}:
            minutes[(b.measurement, b.device, b.county, m)] = b.site
    return minutes


async def mark(db: Database, points: Iterable[Point]) -> int:
    """Mark the minutes (and hours) these points fall in for recomputation; returns how
    many hours."""
    return await mark_minutes(db, point_minutes(points))


async def mark_hours(db: Database, hours: Hours) -> int:
    """Mark whole hours for recomputation (``whole``: every minute of them is read raw
    until the job recomputes the hour); returns how many."""
    return await _mark(db, hours, {}, whole=True)


async def mark_minutes(db: Database, minutes: Minutes) -> int:
    """Mark these minutes and their hours; returns how many hours."""
    hours: Hours = {
        (m, d, county, t // HOUR_MS * HOUR_MS): site for (m, d, county, t), site in minutes.items()
    }
    return await _mark(db, hours, minutes, whole=False)


async def _mark(
    db: Database,
    hours: Hours,
    minutes: Minutes,
    *,
    whole: bool,
    written: Iterable[tuple[str, str, str]] = (),
) -> int:
    """Hours and minutes marked in one transaction with one ``marked_at``, so an hour's
    mark is never older than one of its minutes'; an hour marked whole stays so until
    the job recomputes it. The write generation of each series marked (and of the
    series in ``written``: written to, their marks left alone) is bumped in the same
    transaction (:func:`bump_writes`)."""
    series = {(m, d, county) for m, d, county, _ in hours} | set(written)
    if not series:
        return 0
    now = utcnow()
    keys = ("measurement", "device", "county")
    async with db.transaction() as s:
        await bump_writes(s, series)
        for model, column, marks in (
            (RollupPending, "hour_ms", hours),
            (RollupPendingMinute, "minute_ms", minutes),
        ):
            rows: list[dict[str, object]] = [
                {
                    "measurement": m,
                    "device": d,
                    column: t,
                    "county": county,
                    "site": site,
                    "marked_at": now,
                }
                for (m, d, county, t), site in sorted(marks.items())
            ]
            update: tuple[str, ...] = ("marked_at",)
            if model is RollupPending:
                for row in rows:
                    row["whole"] = whole
                if whole:
                    update = ("marked_at", "whole")
            for i in range(0, len(rows), 500):
                await upsert(s, model, rows[i : i + 500], keys=(*keys, column), update=update)
    return len(hours)


class Marker:
    """Marks hours for recomputation, skipping an hour this process marked less than
    ``remark_after_s`` ago. Safe while ``remark_after_s`` < the job's ``settle_s``: the
    job only takes a mark at least ``settle_s`` old, so a skipped re-mark is never
    older than the data it stands for by more than the job waits."""

    def __init__(
        self, db: Database, remark_after_s: float = 0.0, *, lazy_bumps: bool = False
    ) -> None:
        self.db = db
        self.remark_after_s = remark_after_s
        #: on PostgreSQL, a write whose marks are all left alone (recent) bumps its
        #: series' write generations with ``synchronous_commit = off``: visible to every
        #: reader at once (a cached live minute is never served after the answer), but
        #: not flushed before it. What a crash of PostgreSQL can cost: the bumps of the
        #: last ~0.6 s (3 x ``wal_writer_delay``) are lost, so an API process may serve
        #: the live minutes it cached before those writes until the series' next write
        #: or until the job settles the minute (its mark, written durably at most 10 s
        #: before, stays: the roll-ups are never missed). A bump after a crash never
        #: reuses a lost one's value (each is at least the time in microseconds).
        self.lazy_bumps = lazy_bumps
        self.bumps_lazy = 0
        self._lazy: _LazyBumps | None = None
        self._recent: dict[tuple[str, str, str, int], float] = {}

    async def mark(self, points: Iterable[Point]) -> int:
        return await self.mark_minutes(point_minutes(points))

    async def mark_blocks(self, blocks: Iterable[PointBlock]) -> int:
        return await self.mark_minutes(block_minutes(blocks))

    async def mark_hours(self, hours: Hours) -> int:
        return await mark_hours(self.db, hours)

    async def mark_minutes(self, minutes: Minutes) -> int:
        """Skips a minute (and so its hour's re-mark) this process marked less than
        ``remark_after_s`` ago: the hour's mark is at least as new as the minute's."""
        if self.remark_after_s <= 0:
            return await mark_minutes(self.db, minutes)
        now = time.monotonic()
        if len(self._recent) > 100_000:
            self._recent = {k: t for k, t in self._recent.items() if now - t < self.remark_after_s}
        fresh: Minutes = {}
        for key, where in minutes.items():
            t = self._recent.get(key)
            if t is None or now - t >= self.remark_after_s:
                fresh[key] = where
                self._recent[key] = now
        hours: Hours = {
            (m, d, county, t // HOUR_MS * HOUR_MS): site
            for (m, d, county, t), site in fresh.items()
        }
        # a minute left alone was written to all the same: its series' write generation
        # is bumped, or the raw points of its minutes cached by readers would be stale
        written = {(m, d, county) for m, d, county, _ in minutes}
        if self.lazy_bumps and not hours and self.db.engine.dialect.name == "postgresql":
            if self._lazy is None:
                self._lazy = _LazyBumps(self.db)
            await self._lazy.bump(written)
            self.bumps_lazy += 1
            return 0
        return await _mark(self.db, hours, fresh, whole=False, written=written)

    def lazy_series(self, minutes: Minutes) -> set[tuple[str, str, str]] | None:
        """For a caller that bumps write generations in a statement of its own
        (:data:`LAZY_BUMP`, on PostgreSQL): when lazy bumps are on and every minute was
        marked by this process less than ``remark_after_s`` ago, the series whose write
        generation that statement must bump (counted as a lazy bump); else None, and
        :meth:`mark_minutes` does the marking."""
        if not self.lazy_bumps or self.remark_after_s <= 0 or not minutes:
            return None
        now = time.monotonic()
        for key in minutes:
            t = self._recent.get(key)
            if t is None or now - t >= self.remark_after_s:
                return None
        self.bumps_lazy += 1
        return {(m, d, county) for m, d, county, _ in minutes}

    async def close(self) -> None:
        """Release what the lazy bumps hold, if anything."""
        if self._lazy is not None:
            await self._lazy.close()
            self._lazy = None


#: :func:`bump_writes` for :class:`_LazyBumps`: one statement whatever the number of
#: series (arrays), so neither SQLAlchemy nor psycopg parses a new text per group; its
#: own transaction (autocommit) with ``synchronous_commit`` off for it alone
#: (``set_config(..., true)`` is ``SET LOCAL``, read at the commit); each new value at
#: least ``floor``.
_LAZY_BUMP = (
    "INSERT INTO rollup_generation (measurement, device, county, generation, minutes, writes)"
    " SELECT m, d, c, 0, 0, %(floor)s FROM unnest(%(m)s::varchar[], %(d)s::varchar[],"
    " %(c)s::varchar[]) AS s(m, d, c),"
    " (SELECT set_config('synchronous_commit', 'off', true)) AS lazy(commit_mode)"
    " ON CONFLICT (measurement, device, county) DO UPDATE"
    " SET writes = GREATEST(rollup_generation.writes + 1, %(floor)s)"
)


#: The lazy bump as a statement a caller may put in its own (a ``WITH`` of a read that
#: runs after the same write): its parameters are :func:`lazy_bump_params`'s.
LAZY_BUMP = _LAZY_BUMP


def lazy_bump_params(series: Iterable[tuple[str, str, str]]) -> dict[str, object]:
    rows = sorted(series)
    return {
        "m": [r[0] for r in rows],
        "d": [r[1] for r in rows],
        "c": [r[2] for r in rows],
        "floor": time.time_ns() // 1000,
    }


class _LazyBumps:
    """Write-generation bumps alone (:class:`Marker`, ``lazy_bumps``), on PostgreSQL: one
    statement each, in autocommit on a pooled connection, its commit not waited on to
    disk (seen by every reader once it returns). Each bump is a new value (at least the
    time in microseconds), never one a bump lost in a crash had."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def bump(self, series: Iterable[tuple[str, str, str]]) -> None:
        params = lazy_bump_params(series)
        async with self.db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql(_LAZY_BUMP, params)

    async def close(self) -> None:
        """Nothing held (kept for :meth:`Marker.close`)."""


async def recompute_hour(
    tsdb: TimeSeriesStore,
    measurement: str,
    device: str,
    county: str,
    site: str,
    hour_ms: int,
) -> int:
    """Recompute the 1-min and 1-h roll-ups of one hour of one series (the device's
    readings stored under ``county``); returns raw rows read."""
    n, _ = await recompute(tsdb, measurement, device, county, site, hour_ms)
    return n


async def recompute(
    tsdb: TimeSeriesStore,
    measurement: str,
    device: str,
    county: str,
    site: str,
    hour_ms: int,
    *,
    prev: dict[str, Reading] | None = None,
    inherited: dict[str, int] | None = None,
) -> tuple[int, HourSums]:
    """:func:`recompute_hour`, given (or reading) each metric's last reading before the
    hour (``prev``) and the previous hour's hold caps (``inherited``); returns the rows
    read and the hour's weighted sums (whose ``last`` and ``caps`` the next hour takes)."""
    rows = await tsdb.raw_rows(measurement, device, hour_ms, hour_ms + HOUR_MS, counties=[county])
    if prev is None:
        metrics = sorted({m for _, f in rows for m in f if QUALITY_SUFFIX not in m})
        prev = await tsdb.previous(
            measurement, device, metrics, hour_ms, HOLD_MAX_MS, counties=[county]
        )
    sums = hour_sums(rows, hour_ms, prev, inherited)
    for resolution, every in (("1m", MINUTE_MS), ("1h", HOUR_MS)):
        windows = rollup_fields(rows, every)
        for w, weighted in sums.fields[resolution].items():
            windows.setdefault(w, {}).update(weighted)
        points = [
            Point(measurement, device, county, site, w, fields)
            for w, fields in sorted(windows.items())
        ]
        await tsdb.write_rollups(resolution, points)  # type: ignore[arg-type]
    return len(rows), sums


async def marks_after(
    session: AsyncSession, pending: Sequence[RollupPending]
) -> dict[tuple[str, str, str, int], datetime]:
    """The marks of the hours after these marked hours: ``{(measurement, device, county,
    hour): marked_at}``."""
    after = {(p.measurement, p.device, p.county, p.hour_ms + HOUR_MS) for p in pending}
    if not after:
        return {}
    rows = await session.execute(
        select(
            RollupPending.measurement,
            RollupPending.device,
            RollupPending.county,
            RollupPending.hour_ms,
            RollupPending.marked_at,
        ).where(
            RollupPending.device.in_(sorted({k[1] for k in after})),
            RollupPending.hour_ms.in_(sorted({k[3] for k in after})),
        )
    )
    return {(m, d, c, h): at for m, d, c, h, at in rows if (m, d, c, h) in after}


async def recompute_marked(
    tsdb: TimeSeriesStore,
    pending: Sequence[RollupPending],
    after: dict[tuple[str, str, str, int], datetime],
) -> None:
    """Recompute each marked hour, and the hour after it: the marked hour's last
    readings hold into it, so its weighted sums change as well. Unless that hour is
    marked as late or later (``after``, :func:`marks_after`): it is recomputed in its
    turn, from the readings written before its mark (the live hour, for one)."""
    for p in pending:
        _, sums = await recompute(tsdb, p.measurement, p.device, p.county, p.site, p.hour_ms)
        nxt = (p.measurement, p.device, p.county, p.hour_ms + HOUR_MS)
        mark_of_next = after.get(nxt)
        if mark_of_next is None or mark_of_next < p.marked_at:
            await recompute(
                tsdb,
                p.measurement,
                p.device,
                p.county,
                p.site,
                p.hour_ms + HOUR_MS,
                prev=sums.last,
                inherited=sums.caps,
            )


async def recompute_minutes(
    tsdb: TimeSeriesStore,
    measurement: str,
    device: str,
    county: str,
    site: str,
    minutes: Sequence[int],
) -> int:
    """Recompute the 1-min roll-ups of these minutes of one series (one hour's at most,
    not the hour's roll-up); returns raw rows read."""
    if not minutes:
        return 0
    wanted = set(minutes)
    rows = await tsdb.raw_rows(
        measurement, device, min(wanted), max(wanted) + MINUTE_MS, counties=[county]
    )
    points = [
        Point(measurement, device, county, site, w, fields)
        for w, fields in sorted(rollup_fields(rows, MINUTE_MS).items())
        if w in wanted
    ]
    await tsdb.write_rollups("1m", points)
    return len(rows)


#: How long a minute's mark must be left alone before the job takes it (at most).
MINUTE_SETTLE_S = 20.0


class RollupJob:
    """``settle_s``: an hour is recomputed once no write has marked it for this long, so
    an hour that live data keeps extending is recomputed about once, after it ends,
    not after every write. Its minutes settle meanwhile, ``minute_settle_s`` after
    their last mark (20 s, at most ``settle_s``): their 1-min roll-ups are recomputed
    one by one (the hour stays marked), so a query reads only the last minute or two
    of the live hour raw."""

    def __init__(
        self,
        db: Database,
        tsdb: TimeSeriesStore,
        *,
        batch: int = 500,
        settle_s: float = 0.0,
        minute_settle_s: float | None = None,
    ) -> None:
        self.db = db
        self.tsdb = tsdb
        self.batch = batch
        self.settle_s = settle_s
        #: a minute is recomputed once no write has marked it for this long: past the
        #: ingest workers' re-mark interval (at most ``settle_s / 2`` and 10 s) and their
        #: batching, not the hour's wait (a minute is not extended once it has ended)
        self.minute_settle_s = (
            min(settle_s, MINUTE_SETTLE_S) if minute_settle_s is None else minute_settle_s
        )
        self.hours_done = 0
        self.minutes_done = 0

    async def run_once(self) -> int:
        """Recompute up to ``batch`` settled marked hours, oldest mark first, then (when
        no more are settled) up to ``batch`` settled marked minutes; returns how many
        hours."""
        now = utcnow()
        hours = await self._run_hours(now - timedelta(seconds=self.settle_s))
        if hours < self.batch:
            minutes_settled = now - timedelta(seconds=self.minute_settle_s)
            self.minutes_done += await self._run_minutes(minutes_settled)
        return hours

    async def _run_hours(self, settled: datetime) -> int:
        async with self.db.session() as s:
            pending = list(
                (
                    await s.execute(
                        select(RollupPending)
                        .where(RollupPending.marked_at <= settled)
                        .order_by(RollupPending.marked_at)
                        .limit(self.batch)
                    )
                ).scalars()
            )
            after = await marks_after(s, pending)
        await recompute_marked(self.tsdb, pending, after)
        done: list[tuple[str, str, str, int, datetime]] = []
        for p in pending:
            done.append((p.measurement, p.device, p.county, p.hour_ms, p.marked_at))
        if done:
            async with self.db.transaction() as s:
                for m, d, county, h, marked_at in done:
                    await s.execute(
                        delete(RollupPending).where(
                            and_(
                                RollupPending.measurement == m,
                                RollupPending.device == d,
                                RollupPending.county == county,
                                RollupPending.hour_ms == h,
                                RollupPending.marked_at <= marked_at,
                            )
                        )
                    )
                    # its minutes' marks as old as the hour's: recomputed with it
                    await s.execute(
                        delete(RollupPendingMinute).where(
                            and_(
                                RollupPendingMinute.measurement == m,
                                RollupPendingMinute.device == d,
                                RollupPendingMinute.county == county,
                                RollupPendingMinute.minute_ms >= h,
                                RollupPendingMinute.minute_ms < h + HOUR_MS,
                                RollupPendingMinute.marked_at <= marked_at,
                            )
                        )
                    )
                await bump_generations(s, {(m, d, county) for m, d, county, _, _ in done})
        self.hours_done += len(done)
        return len(done)

    async def _run_minutes(self, settled: datetime) -> int:
        """The 1-min roll-ups of up to ``batch`` settled marked minutes, each hour's in
        one read; their marks cleared unless marked again meanwhile. Their hours stay
        marked (an hour's mark is never older than its minutes'), so no generation
        changes: a marked hour is never taken from the hour cache. The series' minute
        generation changes instead, in the transaction that clears the marks."""
        async with self.db.session() as s:
            pending = list(
                (
                    await s.execute(
                        select(RollupPendingMinute)
                        .where(RollupPendingMinute.marked_at <= settled)
                        .order_by(RollupPendingMinute.marked_at)
                        .limit(self.batch)
                    )
                ).scalars()
            )
        groups: dict[tuple[str, str, str, int], list[RollupPendingMinute]] = {}
        for p in pending:
            groups.setdefault(
                (p.measurement, p.device, p.county, p.minute_ms // HOUR_MS), []
            ).append(p)
        for (m, d, county, _), marks in groups.items():
            await recompute_minutes(
                self.tsdb, m, d, county, marks[0].site, [p.minute_ms for p in marks]
            )
        if pending:
            async with self.db.transaction() as s:
                for i in range(0, len(pending), 100):
                    await s.execute(
                        delete(RollupPendingMinute).where(
                            or_(
                                *(
                                    and_(
                                        RollupPendingMinute.measurement == p.measurement,
                                        RollupPendingMinute.device == p.device,
                                        RollupPendingMinute.county == p.county,
                                        RollupPendingMinute.minute_ms == p.minute_ms,
                                        RollupPendingMinute.marked_at <= p.marked_at,
                                    )
                                    for p in pending[i : i + 100]
                                )
                            )
                        )
                    )
                await bump_generations(
                    s, {(p.measurement, p.device, p.county) for p in pending}, minutes=True
                )
        return len(pending)

    async def run_until_idle(self) -> int:
        """Until nothing settled is left; returns how many hours were recomputed."""
        total = 0
        while True:
            minutes = self.minutes_done
            n = await self.run_once()
            total += n
            if not n and self.minutes_done == minutes:
                return total

    async def run(self, interval_s: float) -> None:
        """Forever: catch up, then wait ``interval_s``. Store outages are retried."""
        while True:
            try:
                await self.run_until_idle()
                prune = getattr(self.tsdb, "prune", None)
                if prune is not None:
                    await prune(int(utcnow().timestamp() * 1000))
            except TimeSeriesError as exc:
                log.warning("roll-up job: time-series store unavailable (%s); retrying", exc)
            await asyncio.sleep(interval_s)


async def bump_generations(
    session: AsyncSession, series: Iterable[tuple[str, str, str]], *, minutes: bool = False
) -> None:
    """The roll-ups of these series ``(measurement, device, county)`` were rewritten (with
    ``minutes``: 1-min roll-ups of marked hours alone): a cache of older ones is stale."""
    column = "minutes" if minutes else "generation"
    rows = [
        {
            "measurement": m,
            "device": d,
            "county": county,
            "generation": 0 if minutes else 1,
            "minutes": 1 if minutes else 0,
        }
        for m, d, county in sorted(series)
    ]
    if not rows:
        return
    ins = dialect_insert(session, RollupGeneration).values(rows)
    await session.execute(
        ins.on_conflict_do_update(
            index_elements=["measurement", "device", "county"],
            set_={column: getattr(RollupGeneration, column) + 1},
        )
    )


async def bump_writes(session: AsyncSession, series: Iterable[tuple[str, str, str]]) -> None:
    """Raw points of these series ``(measurement, device, county)`` were written (and are
    stored): the raw points of their marked minutes cached before are stale. Every
    writer marks what it wrote after storing it (:func:`mark`, :class:`Marker`), and the
    marks call this in their transaction: a reader that sees the new generation sees
    the points too."""
    rows = [
        {
            "measurement": m,
            "device": d,
            "county": county,
            "generation": 0,
            "minutes": 0,
            "writes": 1,
        }
        for m, d, county in sorted(series)
    ]
    for i in range(0, len(rows), 500):
        ins = dialect_insert(session, RollupGeneration).values(rows[i : i + 500])
        await session.execute(
            ins.on_conflict_do_update(
                index_elements=["measurement", "device", "county"],
                set_={"writes": RollupGeneration.writes + 1},
            )
        )


def state_selects(
    *, of_counties: bool, measurement: ColumnElement[str] | None = None
) -> list[Select[Any]]:
    """The selects of :func:`rollup_state`'s one statement: marks of hours and minutes
    and generations of ``:devices`` in [``:first_hour``, ``:end_ms``) (see
    :func:`state_params`), of ``measurement`` (default ``:measurement``), each row
    ``(device, county, value, extra, kind)`` (:func:`state_of_rows`). A caller may add
    a select of its own of the same shape to the union, of another ``kind``."""
    devices = bindparam("devices", expanding=True)
    counties = bindparam("counties", expanding=True)
    if measurement is None:
        measurement = bindparam("measurement")
    none = cast(null(), BigInteger).label("extra")
    marks = select(
        RollupPending.device,
        RollupPending.county,
        RollupPending.hour_ms.label("value"),
        case((RollupPending.whole, 1), else_=0).label("extra"),
        literal(0).label("kind"),
    ).where(
        RollupPending.measurement == measurement,
        RollupPending.device.in_(devices),
        RollupPending.hour_ms >= bindparam("first_hour"),
        RollupPending.hour_ms < bindparam("end_ms"),
    )
    minute_marks = select(
        RollupPendingMinute.device,
        RollupPendingMinute.county,
        RollupPendingMinute.minute_ms.label("value"),
        none,
        literal(2).label("kind"),
    ).where(
        RollupPendingMinute.measurement == measurement,
        RollupPendingMinute.device.in_(devices),
        RollupPendingMinute.minute_ms >= bindparam("first_hour"),
        RollupPendingMinute.minute_ms < bindparam("end_ms"),
    )
    gens = select(
        RollupGeneration.device,
        RollupGeneration.county,
        RollupGeneration.generation.label("value"),
        RollupGeneration.minutes.label("extra"),
        literal(1).label("kind"),
    ).where(RollupGeneration.measurement == measurement, RollupGeneration.device.in_(devices))
    writes = select(
        RollupGeneration.device,
        RollupGeneration.county,
        RollupGeneration.writes.label("value"),
        none,
        literal(3).label("kind"),
    ).where(RollupGeneration.measurement == measurement, RollupGeneration.device.in_(devices))
    if of_counties:
        marks = marks.where(RollupPending.county.in_(counties))
        minute_marks = minute_marks.where(RollupPendingMinute.county.in_(counties))
        gens = gens.where(RollupGeneration.county.in_(counties))
        writes = writes.where(RollupGeneration.county.in_(counties))
    return [marks, gens, minute_marks, writes]


def state_params(
    measurement: str, devices: Sequence[str], start_ms: int, end_ms: int, counties: Counties
) -> dict[str, Any]:
    """The parameters of :func:`state_selects` (``counties`` None: every county)."""
    params: dict[str, Any] = {
        "measurement": measurement,
        "devices": list(devices),
        "first_hour": start_ms // HOUR_MS * HOUR_MS,
        "end_ms": end_ms,
    }
    if counties is not None:
        params["counties"] = list(counties)
    return params


def state_of_rows(rows: Iterable[Sequence[Any]]) -> RollupState:
    """The rows of :func:`state_selects` (rows of other kinds are left out)."""
    pending: dict[str, set[int]] = {}
    minutes: dict[str, set[int]] = {}
    generations: dict[str, list[tuple[str, int, int]]] = {}
    writes: dict[str, list[tuple[str, int]]] = {}
    for device, county, value, extra, kind in rows:
        if kind == 0:
            pending.setdefault(device, set()).add(int(value))
            if extra:  # marked whole: every minute
                hour = int(value)
                minutes.setdefault(device, set()).update(range(hour, hour + HOUR_MS, MINUTE_MS))
        elif kind == 2:
            minutes.setdefault(device, set()).add(int(value))
        elif kind == 1:
            generations.setdefault(device, []).append((county, int(value), int(extra or 0)))
        elif kind == 3:
            writes.setdefault(device, []).append((county, int(value)))
    generation = {d: tuple(sorted((c, g) for c, g, _ in gs)) for d, gs in generations.items()}
    minute_generation = {d: tuple(sorted(gs)) for d, gs in generations.items()}
    write_generation = {d: tuple(sorted(ws)) for d, ws in writes.items()}
    return RollupState(pending, generation, minutes, minute_generation, write_generation)


_STATE = union_all(*state_selects(of_counties=False))
_STATE_OF_COUNTIES = union_all(*state_selects(of_counties=True))


@dataclass(frozen=True, slots=True)
class RollupState:
    """Per device, over the counties of a read: the hours whose roll-ups are not
    current under one of them, the minutes of those hours whose 1-min roll-ups are not
    current (read them raw; the hours' other minutes from the 1-min roll-ups), and the
    generations of its series in them, ``((county, generation), ...)`` sorted (cached
    roll-ups of other generations are stale). Roll-ups are per (device, county): a tag
    heard by two counties has two series, each with its own marks and generation.

    ``minutes`` None: not known, every minute of a marked hour is read raw.
    ``minute_generation``: per device, ``((county, generation, minute generation), ...)``
    (see :func:`bump_generations`); None: not known, nothing minute-wise is cached.
    ``writes``: per device, ``((county, write generation), ...)`` (see
    :func:`bump_writes`); None: not known, the marked minutes' raw points are not
    cached."""

    pending: dict[str, set[int]]
    generation: dict[str, tuple[tuple[str, int], ...]]
    minutes: dict[str, set[int]] | None = None
    minute_generation: dict[str, tuple[tuple[str, int, int], ...]] | None = None
    writes: dict[str, tuple[tuple[str, int], ...]] | None = None


async def rollup_state(
    session: AsyncSession,
    measurement: str,
    devices: Sequence[str],
    start_ms: int,
    end_ms: int,
    counties: Counties = None,
) -> RollupState:
    """The state of these devices' roll-ups in [start, end) under ``counties`` (None:
    every county) (``functools.partial(rollup_state, session)`` is a
    :data:`query.RollupStateOf`).

    Marks of hours and minutes and generations are read in one statement (one
    snapshot): the job clears a mark and bumps the generation in one transaction, so
    both or neither are seen, and a minute is marked with its hour."""
    if counties is not None and not counties:
        return RollupState({}, {}, {}, {}, {})
    statement = _STATE_OF_COUNTIES if counties is not None else _STATE
    rows: list[Sequence[Any]] = []
    for i in range(0, len(devices), 500):
        params = state_params(measurement, devices[i : i + 500], start_ms, end_ms, counties)
        rows += (await session.execute(statement, params)).all()
    return state_of_rows(rows)
