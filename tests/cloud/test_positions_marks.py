"""A window a process already marked is not marked again for each fix, yet a fix written
after a consumer's claim is never missed: the claim is seen after the write and the
window marked again, so the consumer's completion leaves it marked. On SQLite and on
PostgreSQL (its own statement for the check). Counts per tracker are kept in memory
and reach the database at the flush interval and at close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db import Database, utcnow
from cloud.logistics.positions import dirty
from cloud.logistics.positions import trackers as svc
from cloud.logistics.positions.config import PositionSettings
from cloud.logistics.positions.fix import Fix
from cloud.logistics.positions.intake import PositionIntake
from cloud.logistics.positions.parse import Parsed
from cloud.logistics.positions.storage import TrackerCount
from cloud.timeseries import Point
from cloud.timeseries.sqlite import SqliteStore
from tests.support.schema import migrate_async

COUNTY = "533103"
TRUCK = "truck-marks-1"


class Env:
    def __init__(self, db: Database, store: SqliteStore, device_id: str, tracker_id: int) -> None:
        self.db = db
        self.store = store
        self.device_id = device_id
        self.tracker_id = tracker_id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    if request.param == "postgres":
        from tests.support.postgres import fresh_database, migrated_template

        with fresh_database(template=migrated_template()) as url:
            async for e in _env(url, tmp_path):
                yield e
    else:
        url = f"sqlite:///{tmp_path / 'rel.db'}"
        await migrate_async(url)
        async for e in _env(url, tmp_path):
            yield e


async def _env(url: str, tmp_path: Path) -> AsyncIterator[Env]:
    db = Database(url)
    store = SqliteStore(tmp_path / "ts.db")
    await store.open()
    try:
        async with db.transaction() as s:
            org = Organisation(kind="carrier", name="芒市冷链", uscc="Z533103000000077",
                               county=COUNTY, created_at=utcnow(), created_by="t")  # fmt: skip
            s.add(org)
            await s.flush()
            reg = MobileDevice(device_id=TRUCK, kind="vehicle", org_id=org.id, county=COUNTY,
                               registered_at=utcnow(), registered_by="t")  # fmt: skip
            s.add(reg)
            await s.flush()
            issued = await svc.create(
                s, reg, label="", speed_unit="ms", server_url="http://x/", actor="t"
            )
        yield Env(db, store, issued.device_id, issued.tracker.id)
    finally:
        await store.close()
        await db.dispose()


class HookedStore:
    """The time-series store, running ``before`` ahead of each write (a consumer that
    claims between the intake's decision to skip the mark and its write)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.before: Callable[[], object] | None = None

    async def write(self, points: Sequence[Point]) -> None:
        if self.before is not None:
            await self.before()  # type: ignore[misc]
        await self.store.write(points)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def _fix(env: Env, ts_ms: int, lat: float) -> list[Parsed]:
    return [Parsed(env.device_id, Fix(ts_ms, lat, 98.58))]


async def _marked(env: Env) -> list[dirty.Window]:
    async with env.db.session() as s:
        return await dirty.touched_windows(s, "trips", device=TRUCK)


async def test_a_fix_written_after_a_claim_is_never_missed(env: Env) -> None:
    hooked = HookedStore(env.store)
    intake = PositionIntake(env.db, hooked)  # type: ignore[arg-type]
    hour = dirty.window_of(int(time.time() * 1000) - 3 * 3_600_000)
    try:
        # the first fix of the window marks it before its write
        assert (await intake.accept(_fix(env, hour + 1_000, 24.4330), "query")).accepted == 1
        assert (intake.marks.marked_before, intake.marks.marked_after) == (1, 0)
        # later fixes of the window: no mark, one check after the write, nothing claimed
        assert (await intake.accept(_fix(env, hour + 2_000, 24.4331), "query")).accepted == 1
        assert (intake.marks.marked_before, intake.marks.marked_after) == (1, 0)
        assert intake.marks.checked_after == 1

        # a consumer claims the window after the intake decided not to mark it, before
        # the fix is written; it reads the window before the fix lands
        claimed: list[dirty.Window] = []
        seen: list[int] = []

        async def consumer_claims_and_reads() -> None:
            async with env.db.transaction() as s:
                claimed.extend(await dirty.claim(s, "trips", worker="w1"))
            rows = await env.store.raw_rows("vehicle", TRUCK, hour, hour + 3_600_000)
            seen.extend(ts for ts, _ in rows)

        hooked.before = consumer_claims_and_reads
        assert (await intake.accept(_fix(env, hour + 3_000, 24.4332), "query")).accepted == 1
        hooked.before = None
        assert [w.start_ms for w in claimed] == [hour]
        assert hour + 3_000 not in seen  # the consumer's read missed the new fix ...
        assert intake.marks.marked_after == 1  # ... so the check marked the window again
        async with env.db.transaction() as s:
            assert await dirty.complete(s, "trips", claimed) == 0  # released, not deleted
        assert [w.start_ms for w in await _marked(env)] == [hour]

        # the next claim recomputes with every fix; completed, the window is gone
        async with env.db.transaction() as s:
            again = await dirty.claim(s, "trips", worker="w2")
        rows = await env.store.raw_rows("vehicle", TRUCK, hour, hour + 3_600_000)
        assert [ts - hour for ts, _ in rows] == [1_000, 2_000, 3_000]
        async with env.db.transaction() as s:
            assert await dirty.complete(s, "trips", again) == 1
        assert await _marked(env) == []

        # a fix for the completed window (the process still thinks it holds a mark):
        # the check finds no mark and makes one
        assert (await intake.accept(_fix(env, hour + 4_000, 24.4333), "query")).accepted == 1
        assert intake.marks.marked_after == 2
        assert [w.start_ms for w in await _marked(env)] == [hour]
    finally:
        await intake.close()


async def test_a_claim_whose_lease_ran_out_still_counts_as_claimed(env: Env) -> None:
    intake = PositionIntake(env.db, env.store)
    hour = dirty.window_of(int(time.time() * 1000) - 5 * 3_600_000)
    try:
        await intake.accept(_fix(env, hour + 1_000, 24.40), "query")
        async with env.db.transaction() as s:
            claimed = await dirty.claim(s, "trips", worker="slow", lease_s=0.0)
        assert len(claimed) == 1
        await intake.accept(_fix(env, hour + 2_000, 24.4001), "query")
        assert intake.marks.marked_after == 1  # the slow worker may still complete it
        async with env.db.transaction() as s:
            assert await dirty.complete(s, "trips", claimed) == 0
        assert len(await _marked(env)) == 1
    finally:
        await intake.close()


async def test_a_resent_duplicate_marks_its_window(env: Env) -> None:
    """A process that died between a fix's write and its check left the window
    unmarked; the phone resends (never answered), and the duplicate marks it."""
    hour = dirty.window_of(int(time.time() * 1000) - 7 * 3_600_000)
    # the fix was written, its window never marked (the process died)
    await env.store.write([Point("vehicle", TRUCK, COUNTY, "", hour + 1_000,
                                 {"lat": 24.40, "lon": 98.58})])  # fmt: skip
    assert await _marked(env) == []
    intake = PositionIntake(env.db, env.store)  # the restarted process
    try:
        out = await intake.accept(_fix(env, hour + 1_000, 24.40), "query")
        assert (out.accepted, dict(out.filtered)) == (0, {"duplicate": 1})
        assert [w.start_ms for w in await _marked(env)] == [hour]
    finally:
        await intake.close()


async def _stored_counts(env: Env) -> dict[str, int]:
    async with env.db.session() as s:
        rows = await s.execute(
            TrackerCount.__table__.select().where(TrackerCount.tracker_id == env.tracker_id)
        )
        return {r.outcome: int(r.count) for r in rows}


async def test_counts_are_flushed_at_the_interval_and_at_close(env: Env) -> None:
    intake = PositionIntake(env.db, env.store, PositionSettings(counts_flush_s=0.2))
    now = int(time.time() * 1000)
    try:
        await intake.accept(_fix(env, now - 60_000, 24.40), "query")
        await intake.accept(_fix(env, now - 60_000, 24.40), "query")  # duplicate
        assert intake.counts.pending(env.tracker_id) == {"accepted": 1, "duplicate": 1}
        await asyncio.wait_for(intake.counts.flushed.wait(), 5)  # the timer (0.2 s)
        assert await _stored_counts(env) == {"accepted": 1, "duplicate": 1}
        assert intake.counts.pending(env.tracker_id) == {}
        await intake.accept(_fix(env, now - 50_000, 24.4001), "query")
    finally:
        await intake.close()
    assert await _stored_counts(env) == {"accepted": 2, "duplicate": 1}


async def test_a_fix_is_in_the_series_at_once_without_a_durable_commit(env: Env) -> None:
    """After the first fix of a minute (its marks committed durably), a fix costs no
    synchronous relational commit on PostgreSQL: its series' write generation is bumped
    with ``synchronous_commit = off`` (failed before: one durable commit per fix). Yet
    the series read right after each answer (a warm cache of the live minutes, another
    session) holds the fix."""
    from functools import partial

    from sqlalchemy import event

    from cloud.timeseries import query
    from cloud.timeseries.rollup import rollup_state
    from protocol import positions as pos

    durable: list[bool] = []
    lazy = [False]
    sync_engine = env.db.engine.sync_engine

    def on_execute(_conn: object, _cur: object, statement: str, *_a: object) -> None:
        if "synchronous_commit" in statement:
            lazy[0] = True

    def on_commit(_conn: object) -> None:
        durable.append(not lazy[0])
        lazy[0] = False

    event.listen(sync_engine, "before_cursor_execute", on_execute)
    event.listen(sync_engine, "commit", on_commit)
    intake = PositionIntake(env.db, env.store)
    minute = (int(time.time() * 1000) - 3_600_000) // 60_000 * 60_000
    try:
        for i in range(6):
            before = sum(durable)
            ts = minute + 1_000 + i * 5_000
            lat = 24.40 + i * 0.0001
            assert (await intake.accept(_fix(env, ts, lat), "query")).accepted == 1
            if i and env.db.url.startswith("postgresql"):
                assert sum(durable) == before, f"fix {i}: a durable commit"
            async with env.db.session() as s:
                _, got = await query.windows(
                    env.store,
                    pos.MEASUREMENT,
                    [TRUCK],
                    pos.LAT,
                    minute - 3_600_000,
                    minute + 60_000,
                    60_000,
                    rollups=partial(rollup_state, s),
                )
            assert got[TRUCK][-1].count == i + 1
            assert got[TRUCK][-1].max == pytest.approx(lat)
        if env.db.url.startswith("postgresql"):
            assert intake._rollups.bumps_lazy >= 5
    finally:
        await intake.close()
        event.remove(sync_engine, "before_cursor_execute", on_execute)
        event.remove(sync_engine, "commit", on_commit)


async def test_concurrent_tracker_lookups_are_one_query(env: Env) -> None:
    """Phones whose cached trackers ran out together are looked up in one query (16
    sessions at once overflowed the pool, opening connections per lookup); an unknown
    id among them is still refused, nothing stored."""
    from cloud.logistics.positions.intake import UnknownDevice

    intake = PositionIntake(env.db, env.store)
    try:
        got = await asyncio.gather(
            *(intake.tracker(env.device_id) for _ in range(8)),
            intake.tracker("y" * 24),
            return_exceptions=True,
        )
        assert intake.tracker_queries == 1
        assert all(g.id == env.tracker_id for g in got[:8])  # type: ignore[union-attr]
        assert isinstance(got[8], UnknownDevice)
    finally:
        await intake.close()
