"""The roll-up job: recompute exactly the windows that new (or late) data touched.

Ingest marks every hour of every series it writes (:func:`mark`, into
``rollup_pending``). The job (:class:`RollupJob`, run by each ingest worker every
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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, literal, select, union_all
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
from cloud.timeseries.rollup_storage import RollupGeneration, RollupPending
from cloud.timeseries.rollup_sums import HourSums, hour_sums
from cloud.timeseries.windows import HOUR_MS, MINUTE_MS, rollup_fields

log = logging.getLogger(__name__)


#: (measurement, device, county, hour_ms) -> site. A device's readings stored under two
#: counties (a tag that moved) are two series with roll-ups of their own.
Hours = dict[tuple[str, str, str, int], str]


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


async def mark(db: Database, points: Iterable[Point]) -> int:
    """Mark the hours these points fall in for recomputation; returns how many."""
    return await mark_hours(db, point_hours(points))


async def mark_hours(db: Database, hours: Hours) -> int:
    if not hours:
        return 0
    now = utcnow()
    rows = [
        {
            "measurement": m,
            "device": d,
            "hour_ms": h,
            "county": county,
            "site": site,
            "marked_at": now,
        }
        for (m, d, county, h), site in sorted(hours.items())
    ]
    async with db.transaction() as s:
        for i in range(0, len(rows), 500):
            await upsert(
                s,
                RollupPending,
                rows[i : i + 500],
                keys=("measurement", "device", "county", "hour_ms"),
                update=("marked_at",),
            )
    return len(rows)


class Marker:
    """Marks hours for recomputation, skipping an hour this process marked less than
    ``remark_after_s`` ago. Safe while ``remark_after_s`` < the job's ``settle_s``: the
    job only takes a mark at least ``settle_s`` old, so a skipped re-mark is never
    older than the data it stands for by more than the job waits."""

    def __init__(self, db: Database, remark_after_s: float = 0.0) -> None:
        self.db = db
        self.remark_after_s = remark_after_s
        self._recent: dict[tuple[str, str, str, int], float] = {}

    async def mark(self, points: Iterable[Point]) -> int:
        return await self.mark_hours(point_hours(points))

    async def mark_blocks(self, blocks: Iterable[PointBlock]) -> int:
        return await self.mark_hours(block_hours(blocks))

    async def mark_hours(self, hours: Hours) -> int:
        if self.remark_after_s <= 0:
            return await mark_hours(self.db, hours)
        now = time.monotonic()
        if len(self._recent) > 100_000:
            self._recent = {k: t for k, t in self._recent.items() if now - t < self.remark_after_s}
        fresh: Hours = {}
        for key, where in hours.items():
            t = self._recent.get(key)
            if t is None or now - t >= self.remark_after_s:
                fresh[key] = where
                self._recent[key] = now
        return await mark_hours(self.db, fresh)


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


class RollupJob:
    """``settle_s``: an hour is recomputed once no write has marked it for this long, so
    an hour that live data keeps extending is recomputed about once, after it ends,
    not after every write (queries of recent data read raw points anyway)."""

    def __init__(
        self, db: Database, tsdb: TimeSeriesStore, *, batch: int = 500, settle_s: float = 0.0
    ) -> None:
        self.db = db
        self.tsdb = tsdb
        self.batch = batch
        self.settle_s = settle_s
        self.hours_done = 0

    async def run_once(self) -> int:
        """Recompute up to ``batch`` settled marked hours, oldest mark first; returns how many."""
        settled = utcnow() - timedelta(seconds=self.settle_s)
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
                await bump_generations(s, {(m, d, county) for m, d, county, _, _ in done})
        self.hours_done += len(done)
        return len(done)

    async def run_until_idle(self) -> int:
        total = 0
        while n := await self.run_once():
            total += n
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


async def bump_generations(session: AsyncSession, series: Iterable[tuple[str, str, str]]) -> None:
    """The roll-ups of these series ``(measurement, device, county)`` were rewritten: a
    cache of older ones is stale."""
    rows = [
        {"measurement": m, "device": d, "county": county, "generation": 1}
        for m, d, county in sorted(series)
    ]
    if not rows:
        return
    ins = dialect_insert(session, RollupGeneration).values(rows)
    await session.execute(
        ins.on_conflict_do_update(
            index_elements=["measurement", "device", "county"],
            set_={"generation": RollupGeneration.generation + 1},
        )
    )


@dataclass(frozen=True, slots=True)
class RollupState:
    """Per device, over the counties of a read: the hours whose roll-ups are not
    current under one of them (read them raw), and the generations of its series in
    them, ``((county, generation), ...)`` sorted (cached roll-ups of other generations
    are stale). Roll-ups are per (device, county): a tag heard by two counties has two
    series, each with its own marks and generation."""

    pending: dict[str, set[int]]
    generation: dict[str, tuple[tuple[str, int], ...]]


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

    Marks and generations are read in one statement (one snapshot): the job clears a
    mark and bumps the generation in one transaction, so both or neither are seen."""
    if counties is not None and not counties:
        return RollupState({}, {})
    first_hour = start_ms // HOUR_MS * HOUR_MS
    pending: dict[str, set[int]] = {}
    generations: dict[str, list[tuple[str, int]]] = {}
    for i in range(0, len(devices), 500):
        chunk = devices[i : i + 500]
        marks = select(
            RollupPending.device,
            RollupPending.county,
            RollupPending.hour_ms.label("value"),
            literal(0).label("kind"),
        ).where(
            RollupPending.measurement == measurement,
            RollupPending.device.in_(chunk),
            RollupPending.hour_ms >= first_hour,
            RollupPending.hour_ms < end_ms,
        )
        gens = select(
            RollupGeneration.device,
            RollupGeneration.county,
            RollupGeneration.generation.label("value"),
            literal(1).label("kind"),
        ).where(RollupGeneration.measurement == measurement, RollupGeneration.device.in_(chunk))
        if counties is not None:
            marks = marks.where(RollupPending.county.in_(list(counties)))
            gens = gens.where(RollupGeneration.county.in_(list(counties)))
        for device, county, value, kind in await session.execute(union_all(marks, gens)):
            if kind == 0:
                pending.setdefault(device, set()).add(int(value))
            else:
                generations.setdefault(device, []).append((county, int(value)))
    generation = {d: tuple(sorted(g)) for d, g in generations.items()}
    return RollupState(pending, generation)
