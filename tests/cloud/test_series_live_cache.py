"""The raw points of the live (marked) minutes are cached by the series' write
generation: a warm read of the live hour asks the time-series store nothing, and any
write since (new instants, out of order, an instant overwritten, a write whose mark
the ingest worker left alone as recent, a write from another process) is in the next
answer, which stays the raw answer."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from cloud.db import Database
from cloud.timeseries import Point, TimeSeriesStore, query
from cloud.timeseries.rollup import Marker, RollupJob, mark, rollup_state
from cloud.timeseries.windows import HOUR_MS, MINUTE_MS
from tests.cloud.test_series_rollups import (  # noqa: F401 (the fixture)
    DEVS,
    _assert_rollup_answer_is_raw_answer,
    _points,
    _settle,
    stores,
)
from tests.support.api import HOME

ROOT = Path(__file__).resolve().parents[2]

#: Run in another process: write points and mark them as an ingest worker does
#: (``Marker``). argv: database URL, "sqlite" and the store's path or "influx", the
#: URL and the database, the county, then (device, ts_ms, value) triples.
WRITER = """
import asyncio, sys
from cloud.db import Database
from cloud.timeseries import Point
from cloud.timeseries.rollup import Marker

async def main(url, kind, where, extra, county, *triples):
    if kind == "sqlite":
        from cloud.timeseries.sqlite import SqliteStore
        store = SqliteStore(__import__("pathlib").Path(where))
    else:
        from cloud.timeseries.influx import InfluxStore
        store = InfluxStore(where, database=extra)
    await store.open()
    db = Database(url)
    points = [
        Point("cold_room", triples[i], county, "site", int(triples[i + 1]),
              {"temp_c": float(triples[i + 2])})
        for i in range(0, len(triples), 3)
    ]
    try:
        await store.write(points)
        await Marker(db, remark_after_s=600).mark(points)
    finally:
        await store.close()
        await db.dispose()

asyncio.run(main(*sys.argv[1:]))
"""


async def _write_elsewhere(db: Database, ts: TimeSeriesStore, points: list[Point]) -> None:
    path = getattr(ts, "path", None)
    where = ["sqlite", str(path), "-"] if path is not None else ["influx", ts.url, ts.database]  # type: ignore[attr-defined]
    triples = [str(x) for p in points for x in (p.device, p.ts_ms, p.fields["temp_c"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, db.url, *where, HOME, *triples, env=env, cwd=ROOT
    )
    assert await proc.wait() == 0


async def test_live_minutes_are_cached_until_a_write_of_any_process(
    stores: tuple[Database, TimeSeriesStore],  # noqa: F811 (the fixture)
) -> None:
    db, ts = stores
    live = (int(time.time() * 1000) // HOUR_MS - 3) * HOUR_MS
    first = live - 2 * HOUR_MS
    job = RollupJob(db, ts, settle_s=60)
    for dev in DEVS:
        pts = _points(dev, first, live + 40 * MINUTE_MS, 10_000)
        await ts.write(pts)
        await mark(db, pts)
    await _settle(db)
    assert await job.run_until_idle() == 6
    # the ingest worker: marks a minute again only after 10 min (the default is 10 s)
    ingest = Marker(db, remark_after_s=600)
    for dev in DEVS:  # live minutes 40-44; 40-42 settle, 43-44 stay marked
        pts = _points(dev, live + 40 * MINUTE_MS, live + 45 * MINUTE_MS, 10_000)
        await ts.write(pts)
        await ingest.mark(pts)
    await _settle(db, range(live + 40 * MINUTE_MS, live + 43 * MINUTE_MS), age_s=30)
    await job.run_until_idle()
    m43, m44 = live + 43 * MINUTE_MS, live + 44 * MINUTE_MS
    async with db.session() as s:
        state = await rollup_state(s, "cold_room", DEVS, first, live + HOUR_MS)
    assert state.minutes == {d: {m43, m44} for d in DEVS}
    assert state.writes is not None and all(state.writes[d][0][1] >= 2 for d in DEVS)

    calls: list[Any] = []
    aggregate_plan = ts.aggregate_plan

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[3])  # the plan
        return await aggregate_plan(*args, **kwargs)

    span = (first + 90_500, live + 50 * MINUTE_MS, 300_000)
    lives = query.minute_cache(ts)

    async def answer(*, store_requests: int) -> None:
        """A read compared with the raw answer, counting the store's requests of the
        query layer (the raw answer's own, on InfluxDB, left out)."""
        calls.clear()
        ts.aggregate_plan = counted  # type: ignore[method-assign]
        try:
            await _assert_rollup_answer_is_raw_answer(ts, db, *span)
        finally:
            del ts.aggregate_plan
        ours = [c for c in calls if c != {"raw": [span[:2]]}]
        assert len(ours) == store_requests, ours

    await answer(store_requests=3)  # cold: hours, minutes, raw points (of minutes)
    hits = lives.hits
    await answer(store_requests=0)  # warm, nothing written: the store is not asked
    assert lives.hits > hits

    async def written(points: list[Point], *, elsewhere: bool = False) -> None:
        if elsewhere:
            await _write_elsewhere(db, ts, points)
        else:
            await ts.write(points)
            assert await ingest.mark(points) == 0  # recent marks: none written again
        await answer(store_requests=1)  # the marked minutes read again, once
        await answer(store_requests=0)

    # new instants, out of order (before instants stored), and an instant overwritten,
    # in both live minutes; their marks left alone by the ingest worker as recent
    for dev in DEVS:
        await written(
            [
                Point("cold_room", dev, HOME, "site", t, {"temp_c": v})
                for t, v in ((m44 + 55_000, 12.5), (m43 + 1_000, -3.0), (m44 + 20_000, 40.0))
            ]
        )
    # the same from another process (ingest runs in other processes than the API)
    await written(
        [
            Point("cold_room", dev, HOME, "site", t, {"temp_c": v})
            for dev in DEVS
            for t, v in ((m43 + 30_000, 25.0), (m44 + 7_000, -9.5))
        ],
        elsewhere=True,
    )
    # a write into a new minute: marked, read raw with the others
    for dev in DEVS:
        pts = [Point("cold_room", dev, HOME, "site", live + 45 * MINUTE_MS + 5_000, {"temp_c": 8})]
        await ts.write(pts)
        await ingest.mark(pts)
        await answer(store_requests=1)
    # the job settles minute 43: its 1-min roll-up, the live cache no longer used
    await _settle(db, range(m43, m43 + MINUTE_MS), age_s=30)
    await job.run_until_idle()
    async with db.session() as s:
        state = await rollup_state(s, "cold_room", DEVS, first, live + HOUR_MS)
    assert m43 not in state.minutes[DEVS[0]] and m44 in state.minutes[DEVS[0]]
    # the minute generation changed, nothing written since the last read: the minute
    # settled is handed over from the live minutes cached, the rest of the live hour's
    # 1-min roll-ups and the partial first minute stay (they did not change)
    handed = query.stats().handed_over
    await answer(store_requests=0)
    assert query.stats().handed_over > handed
    await answer(store_requests=0)
    await _written_then_settled(db, ts, job, ingest, m44, answer)


async def _written_then_settled(
    db: Database,
    ts: TimeSeriesStore,
    job: RollupJob,
    ingest: Marker,
    m44: int,
    answer: Any,
) -> None:
    """After a hand-over: a new write is in the next answer; a write into a minute that
    the job then settles before any read forbids the hand-over (the live minute cached
    lacks it): the roll-ups are read, and every answer stays the raw answer."""
    for dev in DEVS:
        pts = [Point("cold_room", dev, HOME, "site", m44 + 33_000, {"temp_c": 30.5})]
        await ts.write(pts)
        assert await ingest.mark(pts) == 0
    # the live minutes read again, the new reading in them; and the live hour's 1-min
    # roll-ups: those handed over serve the write generations they were made by only
    await answer(store_requests=2)
    await answer(store_requests=0)
    for dev in DEVS:
        pts = [Point("cold_room", dev, HOME, "site", m44 + 41_000, {"temp_c": -20.0})]
        await ts.write(pts)
        assert await ingest.mark(pts) == 0
    handed = query.stats().handed_over
    await _settle(db, range(m44, m44 + MINUTE_MS), age_s=30)
    await job.run_until_idle()
    # read again: the live hour's 1-min roll-ups (minute 44 settled with the write) and
    # the raw minutes (written since: the partial first minute and the live minute 45)
    await answer(store_requests=2)
    assert query.stats().handed_over == handed
    await answer(store_requests=0)


async def test_concurrent_misses_share_one_store_request(
    stores: tuple[Database, TimeSeriesStore],  # noqa: F811 (the fixture)
) -> None:
    """Reads that miss the same cached parts at once (16 clients after a write) wait for
    one store request each part, not one each; and each answer holds the write."""
    db, ts = stores
    live = (int(time.time() * 1000) // HOUR_MS - 3) * HOUR_MS
    first = live - 2 * HOUR_MS
    for dev in DEVS:
        pts = _points(dev, first, live + 40 * MINUTE_MS, 10_000)
        await ts.write(pts)
        await mark(db, pts)
    await _settle(db)
    await RollupJob(db, ts, settle_s=60).run_until_idle()
    ingest = Marker(db, remark_after_s=600)
    for dev in DEVS:  # two live minutes
        pts = _points(dev, live + 40 * MINUTE_MS, live + 42 * MINUTE_MS, 10_000)
        await ts.write(pts)
        await ingest.mark(pts)
    span = (first + 90_500, live + 50 * MINUTE_MS, 300_000)

    async def state(*args: Any) -> Any:
        async with db.session() as s:
            return await rollup_state(s, *args)

    async def many() -> list[Any]:
        return await asyncio.gather(
            *(
                query.windows(ts, "cold_room", DEVS, "temp_c", *span, rollups=state)
                for _ in range(16)
            )
        )

    before = query.stats()
    answers = await many()
    after = query.stats()
    # cold: the whole hours, the partial and live hours' minutes, the raw minutes
    assert after.store_requests - before.store_requests == 3
    assert after.shared > before.shared
    assert all(a == answers[0] for a in answers)
    for dev in DEVS:  # a reading written: the live minutes read again, once
        pts = [
            Point("cold_room", dev, HOME, "site", live + 41 * MINUTE_MS + 5_000, {"temp_c": 99.0})
        ]
        await ts.write(pts)
        assert await ingest.mark(pts) == 0
    before = query.stats()
    answers = await many()
    assert query.stats().store_requests - before.store_requests == 1
    for a in answers:
        assert a == answers[0]
        assert any(b.max == 99.0 for b in a[1][DEVS[0]])
    await _assert_rollup_answer_is_raw_answer(ts, db, *span)
