"""/series from the roll-ups: a wide window reads the roll-ups (raw only for the hours
not rolled up yet and the partial windows at the ends), the answer equals the one
from raw points (mean, min, max, count) on both stores, and the streamed response
keeps the documented shape."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import update

from cloud.auth.principal import Role
from cloud.db import Database, utcnow
from cloud.db.migrate import upgrade_async
from cloud.devices import series_json
from cloud.devices.schemas import MultiSeriesOut, SeriesOut
from cloud.devices.series_json import iso_ms
from cloud.devices.service import ms_to_dt
from cloud.devices.storage import Device
from cloud.timeseries import Point, TimeSeriesStore, query
from cloud.timeseries.rollup import RollupJob, RollupState, mark, mark_hours, rollup_state
from cloud.timeseries.rollup_storage import RollupPending, RollupPendingMinute
from cloud.timeseries.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    mkt_celsius,
    plan_spans,
    rollup_fields,
    window_start,
)
from tests.support import influx
from tests.support.api import HOME, OTHER, ApiEnv, api_env, seed_timeseries
from tests.support.postgres import fresh_database
from tests.support.schema import migrate_async

DEVS = ("gw-m1.room-1", "gw-m1.room-2")


def _points(device: str, start: int, end: int, step: int) -> list[Point]:
    return [
        Point(
            "cold_room",
            device,
            HOME,
            "site",
            t,
            {"temp_c": round(4 + 3 * math.sin(t / 900_000 + len(device)), 3), "rh": 80.0},
        )
        for t in range(start, end, step)
    ]


async def _assert_rollup_answer_is_raw_answer(
    ts_store: TimeSeriesStore, db: Database, start: int, end: int, every: int
) -> None:
    async def state(*args: object) -> RollupState:
        async with db.session() as s:  # a fresh snapshot, as each API request has
            return await rollup_state(s, *args)  # type: ignore[arg-type]

    res, got = await query.windows(
        ts_store, "cold_room", DEVS, "temp_c", start, end, every, rollups=state
    )
    assert res == ("1h" if every % HOUR_MS == 0 else "1m")
    raw = await ts_store.aggregate("cold_room", DEVS, "temp_c", start, end, every, "raw")
    for dev in DEVS:
        values = [
            (t, f["temp_c"]) for t, f in await ts_store.raw_rows("cold_room", dev, start, end)
        ]
        assert [b.ts_ms for b in got[dev]] == [b.ts_ms for b in raw[dev]]
        assert [b.count for b in got[dev]] == [b.count for b in raw[dev]]
        assert sum(b.count for b in got[dev]) == len(values) > 0
        for g, r in zip(got[dev], raw[dev], strict=True):
            assert (g.min, g.max) == (r.min, r.max)
            assert g.mean == pytest.approx(r.mean, rel=1e-12)
            # and MKT, which raw aggregation has not, from the same points
            vs = [v for t, v in values if window_start(t, every) == g.ts_ms]
            arr = sum(math.exp(-10_000 / (v + 273.15)) for v in vs)
            assert g.mkt == pytest.approx(mkt_celsius(arr, len(vs)), abs=1e-9)


async def test_rollup_answers_equal_raw_answers(ts_store: TimeSeriesStore, tmp_path: Path) -> None:
    """Six hours rolled up and a live hour not yet: for aligned and unaligned ranges and
    windows of a minute to a day, the roll-up answer equals the raw answer; and it
    still does after late data changes an hour that was answered (and cached) before."""
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    now = int(time.time() * 1000)
    h_now = now // HOUR_MS * HOUR_MS
    first = h_now - 6 * HOUR_MS
    job = RollupJob(db, ts_store)
    try:
        for dev in DEVS:
            old = _points(dev, first, h_now, 7_000)
            await ts_store.write(old)
            await mark(db, old)
        assert await job.run_until_idle() == 12
        for dev in DEVS:  # the live hour: written and marked, not rolled up
            live = _points(dev, h_now, now, 7_000)
            await ts_store.write(live)
            await mark(db, live)
        async with db.session() as s:
            got_state = await rollup_state(s, "cold_room", DEVS, first, now + 1)
        assert got_state.pending == {d: {h_now} for d in DEVS}
        assert got_state.generation == {d: ((HOME, 1),) for d in DEVS}
        cases = [
            (first - HOUR_MS, now + 1, 300_000),  # 24 h style: 5-min windows
            (first + 30_500, now - 12_345, 300_000),  # unaligned ends
            (first + 30_500, now - 12_345, HOUR_MS),
            (first - 3 * HOUR_MS, now + 1, DAY_MS),  # Beijing days
            (first + 61_000, first + 3 * HOUR_MS - 1_000, MINUTE_MS),
            (h_now - 20 * MINUTE_MS, now + 1, 2 * MINUTE_MS),  # within the live tail
        ]
        for start, end, every in cases:
            await _assert_rollup_answer_is_raw_answer(ts_store, db, start, end, every)

        # late data in an hour answered above: new readings and changed ones
        late_hour = first + 2 * HOUR_MS
        for dev in DEVS:
            late = [
                Point("cold_room", dev, HOME, "site", t, {"temp_c": 30.0 + (t // 1000) % 7})
                for t in range(late_hour + 1_000, late_hour + HOUR_MS, 21_000)
            ]
            await ts_store.write(late)
            await mark(db, late)
        await _assert_rollup_answer_is_raw_answer(ts_store, db, *cases[0])  # hour read raw
        assert await job.run_until_idle() == 4  # the late hour and the live one, per device
        await _assert_rollup_answer_is_raw_answer(ts_store, db, *cases[0])  # new roll-ups
        await _assert_rollup_answer_is_raw_answer(ts_store, db, *cases[1])

        # 30-second windows are narrower than a roll-up: raw, as before
        async with db.session() as s:
            res, got = await query.windows(
                ts_store,
                "cold_room",
                DEVS,
                "temp_c",
                first,
                now,
                30_000,
                rollups=partial(rollup_state, s),
            )
        assert res == "raw" and got.keys() == set(DEVS)
    finally:
        await db.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres+influx", marks=[pytest.mark.postgres, pytest.mark.influx]),
    ]
)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Database, TimeSeriesStore]]:
    """A relational and a time-series store: SQLite and the embedded one, or
    PostgreSQL and InfluxDB."""
    if request.param == "sqlite":
        from cloud.timeseries.sqlite import SqliteStore

        url = f"sqlite:///{tmp_path / 'rel.db'}"
        await upgrade_async(url)
        db = Database(url)
        async with SqliteStore(tmp_path / "ts.db") as ts:
            yield db, ts
        await db.dispose()
        return
    with fresh_database() as url:
        await upgrade_async(url)
        db = Database(url)
        async with influx.fresh_store() as store:
            yield db, store
        await db.dispose()


async def _settle(db: Database, minutes: range | None = None, age_s: float = 300) -> None:
    """Age marks as if made ``age_s`` ago: the minute marks in ``minutes`` (their hours
    stay fresh, as live data keeps them), or every mark (None)."""
    old = utcnow() - timedelta(seconds=age_s)
    async with db.transaction() as s:
        if minutes is None:
            await s.execute(update(RollupPending).values(marked_at=old))
            await s.execute(update(RollupPendingMinute).values(marked_at=old))
            return
        await s.execute(
            update(RollupPendingMinute)
            .where(
                RollupPendingMinute.minute_ms >= minutes.start,
                RollupPendingMinute.minute_ms < minutes.stop,
            )
            .values(marked_at=old)
        )


async def _late(db: Database, ts: TimeSeriesStore, start: int, end: int, value: float) -> None:
    """Late readings in [start, end): new instants, and one overwritten, all devices."""
    for dev in DEVS:
        late = [
            Point("cold_room", dev, HOME, "site", t, {"temp_c": value + (t // 1000) % 3})
            for t in [*range(start + 3_000, end, 13_000), start + 10_000]  # 10 s: was stored
        ]
        await ts.write(late)
        await mark(db, late)


async def test_live_minutes_and_late_writes_are_never_served_stale(
    stores: tuple[Database, TimeSeriesStore],
) -> None:
    """The live hour is read from the 1-min roll-ups of its settled minutes and raw only
    for its marked ones, and the answer stays the raw answer through late writes: into
    a rolled-up minute of the live hour, into a whole past hour (cached as buckets), into
    the partial first minute (cached per instant) and into the partial first hour
    (cached per minute), before and after the job recomputes them minute by minute or
    whole. Each answer is read twice (the second
    from the caches) and compared with the raw answer."""
    db, ts = stores
    live = (int(time.time() * 1000) // HOUR_MS - 3) * HOUR_MS  # a "live" hour, not settled
    first = live - 2 * HOUR_MS
    job = RollupJob(db, ts, settle_s=60)
    for dev in DEVS:
        pts = _points(dev, first, live + 40 * MINUTE_MS, 10_000)
        await ts.write(pts)
        await mark(db, pts)
    await _settle(db)
    assert await job.run_until_idle() == 6  # 3 hours of 2 devices
    for dev in DEVS:  # live data comes on: minutes 40-44, the hour marked again
        pts = _points(dev, live + 40 * MINUTE_MS, live + 45 * MINUTE_MS, 10_000)
        await ts.write(pts)
        await mark(db, pts)
    # minutes 40-42 last marked 30 s ago: settled (20 s), unlike an hour (60 s)
    await _settle(db, range(live + 40 * MINUTE_MS, live + 43 * MINUTE_MS), age_s=30)
    assert await job.run_until_idle() == 0 and job.minutes_done == 6
    async with db.session() as s:
        state = await rollup_state(s, "cold_room", DEVS, first, live + HOUR_MS)
    assert state.pending == {d: {live} for d in DEVS}
    assert state.minutes == {d: {live + 43 * MINUTE_MS, live + 44 * MINUTE_MS} for d in DEVS}

    span = (first + 90_500, live + 50 * MINUTE_MS, 300_000)
    hours, minutes = query.hour_cache(ts), query.minute_cache(ts)

    async def same_as_raw(*, cached: bool = True) -> None:
        await _assert_rollup_answer_is_raw_answer(ts, db, *span)
        hits = (hours.hits, minutes.hits)
        await _assert_rollup_answer_is_raw_answer(ts, db, *span)
        if cached:
            assert minutes.hits > hits[1]

    await same_as_raw()
    assert hours.hits > 0  # the whole past hour

    # a late write into a rolled-up minute of the live hour: read raw while marked, then
    # recomputed alone (the hour stays marked), never the cached roll-up of before
    late_minute = live + 10 * MINUTE_MS
    await _late(db, ts, late_minute, late_minute + MINUTE_MS, 30.0)
    await same_as_raw()
    await _settle(db, range(late_minute, late_minute + MINUTE_MS))
    await job.run_until_idle()
    async with db.session() as s:
        state = await rollup_state(s, "cold_room", DEVS, first, live + HOUR_MS)
    assert late_minute not in state.minutes[DEVS[0]] and state.pending[DEVS[0]] == {live}
    await same_as_raw()

    # into the whole past hour (in the hour cache): marked, then its minute recomputed
    # alone while it stays marked, then the hour recomputed
    past = first + HOUR_MS + 20 * MINUTE_MS
    await _late(db, ts, past, past + MINUTE_MS, -20.0)
    await same_as_raw()
    await _settle(db, range(past, past + MINUTE_MS))
    await job.run_until_idle()
    await same_as_raw()

    # raw points changed with no marks, then their hour marked whole (as a restore or
    # `dehong cloud rollup --all-since` marks): every minute raw until it is recomputed
    whole = first + HOUR_MS
    for dev in DEVS:
        await ts.write(
            [
                Point("cold_room", dev, HOME, "site", t, {"temp_c": -5.0})
                for t in range(whole + 5_000, whole + HOUR_MS, 600_000)
            ]
        )
    await mark_hours(db, {("cold_room", dev, HOME, whole): "site" for dev in DEVS})
    await same_as_raw()
    await _settle(db, range(whole, whole + HOUR_MS))
    await job.run_until_idle()  # minute marks only: the hour stays marked whole
    await same_as_raw()

    # into the partial first minute (its raw points in the minute cache)
    edge = first + MINUTE_MS
    await _late(db, ts, edge, edge + MINUTE_MS, 60.0)
    await same_as_raw()
    await _settle(db, range(edge, edge + MINUTE_MS))
    await job.run_until_idle()
    await same_as_raw()

    # into the partial first hour (in the minute cache), recomputed whole by the job
    await _late(db, ts, first + 30 * MINUTE_MS, first + 32 * MINUTE_MS, 50.0)
    await same_as_raw()
    await _settle(db)
    assert await job.run_until_idle() == 6  # every marked hour of both devices
    async with db.session() as s:
        state = await rollup_state(s, "cold_room", DEVS, first, live + HOUR_MS)
    assert state.pending == {} and state.minutes == {}
    await same_as_raw()


def test_plan_spans_cover_the_range_once() -> None:
    t = 1_767_225_600_000  # an hour boundary
    start, end = t + 90_500, t + 5 * HOUR_MS + 61_001
    plan = plan_spans(start, end, "1h", [t + 2 * HOUR_MS])
    assert plan == {
        "raw": [
            (start, t + 120_000),
            (t + 2 * HOUR_MS, t + 3 * HOUR_MS),
            (t + 5 * HOUR_MS + 60_000, end),
        ],
        "1m": [(t + 120_000, t + HOUR_MS), (t + 5 * HOUR_MS, t + 5 * HOUR_MS + 60_000)],
        "1h": [(t + HOUR_MS, t + 2 * HOUR_MS), (t + 3 * HOUR_MS, t + 5 * HOUR_MS)],
    }
    spans = sorted(s for v in plan.values() for s in v)
    assert spans[0][0] == start and spans[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(spans))
    assert plan_spans(t + 1, t + 59_000, "1h") == {"raw": [(t + 1, t + 59_000)]}


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.influx)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        if request.param == "influx":
            async with influx.fresh_store() as store:
                await seed_timeseries(store, raw=False)  # T0 is older than raw retention
                e.app.state.tsdb = store
                e.tsdb = store  # type: ignore[assignment]
                yield e
        else:
            yield e


async def _rollups_only(tsdb: TimeSeriesStore, points: list[Point], county: str = HOME) -> None:
    """The roll-ups of these points, without the raw points (as after raw retention)."""
    rows = [(p.ts_ms, p.fields) for p in points]
    for resolution, every in (("1m", MINUTE_MS), ("1h", HOUR_MS)):
        await tsdb.write_rollups(
            resolution,  # type: ignore[arg-type]
            [
                Point("cold_room", points[0].device, county, "site", w, f)
                for w, f in rollup_fields(rows, every).items()
            ],
        )


async def test_24h_series_reads_the_rollups_and_raw_only_for_the_tail(env: ApiEnv) -> None:
    """The default /series (24 h in 5-min windows) reads the roll-ups: hours that exist
    only as roll-ups are in the answer; the hour not rolled up yet comes from raw points,
    even where a stale roll-up of it exists."""
    dev = "gw-m1.room-1"
    now = int(time.time() * 1000)
    h_now = now // HOUR_MS * HOUR_MS
    old = _points(dev, h_now - 20 * HOUR_MS, h_now, 30_000)  # 2400 points, roll-ups only
    await _rollups_only(env.tsdb, old)
    live = _points(dev, h_now, now - 1000, 10_000)
    await env.tsdb.write(live)
    await _rollups_only(env.tsdb, live[: len(live) // 2])  # stale: from before the rest came
    await mark(env.db, live)

    h = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.get(
        f"/api/v1/devices/{dev}/series", params={"metric": "temp_c"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["every"] == "5m" and body["resolution"] == "1m"
    counts = {b["ts_ms"]: b["count"] for b in body["buckets"]}
    assert sum(counts.values()) == len(old) + len(live)
    expected: dict[int, int] = {}
    for p in old + live:
        w = window_start(p.ts_ms, 300_000)
        expected[w] = expected.get(w, 0) + 1
    assert counts == expected
    assert all(b["mkt"] is not None for b in body["buckets"])

    # the same through the multi-device endpoint, beside a device with no data
    r = await env.client.get(
        "/api/v1/series", params={"metric": "temp_c", "device": [dev, "gw-m1.room-1"]}, headers=h
    )
    assert r.status_code == 200, r.text
    (only,) = r.json()["series"]
    assert sum(b["count"] for b in only["buckets"]) == len(old) + len(live)


TAG = "AA:00:00:00:00:0B"  # a tag heard by gateways of both counties, now Longchuan's


def _tag_points(county: str, start: int, end: int, offset: int, base: float) -> list[Point]:
    return [
        Point("cold_room", TAG, county, "site", t, {"temp_c": base + (t // 60_000) % 5})
        for t in range(start + offset, end, 60_000)
    ]


async def _tag_series(env: ApiEnv, h: dict[str, str], start: int, end: int) -> list[dict]:
    params = {"metric": "temp_c", "start": iso_ms(start), "end": iso_ms(end), "every": "5m"}
    r = await env.client.get(f"/api/v1/devices/{TAG}/series", params=params, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["resolution"] == "1m"
    return r.json()["buckets"]


async def _assert_is_raw(env: ApiEnv, got: list[dict], counties: list[str] | None) -> None:
    start, end = got[0]["ts_ms"], got[-1]["ts_ms"] + 300_000
    raw = await env.tsdb.aggregate(
        "cold_room", [TAG], "temp_c", start, end, 300_000, "raw", counties=counties
    )
    assert [(b["ts_ms"], b["count"], b["min"], b["max"]) for b in got] == [
        (b.ts_ms, b.count, b.min, b.max) for b in raw[TAG]
    ]
    for g, r in zip(got, raw[TAG], strict=True):
        assert g["mean"] == pytest.approx(r.mean, rel=1e-12)


async def _tag_day(env: ApiEnv) -> tuple[int, int, list[Point], list[Point]]:
    """``(start, end, Mangshi's points, Longchuan's points)`` of the tag over the last
    24 h, written raw: Mangshi heard it all day, Longchuan for the last 12 hours."""
    async with env.db.transaction() as s:
        s.add(
            Device(
                id=TAG,
                county=OTHER,
                kind="cold_room",
                site="site",
                gateway_id="gw-l1",
                metrics=["temp_c"],
                first_seen_at=utcnow(),
                last_seen_at=utcnow(),
                last_reading_ms=0,
                readings=0,
            )
        )
    now = int(time.time() * 1000)
    h_now = now // HOUR_MS * HOUR_MS
    start, end = h_now - 23 * HOUR_MS - 30 * MINUTE_MS, now + 1
    home = _tag_points(HOME, start - HOUR_MS, now, 0, 4.0)
    other = _tag_points(OTHER, h_now - 12 * HOUR_MS, now, 15_000, 20.0)
    await env.tsdb.write(home + other)
    return start, end, home, other


def _count(points: list[Point], start: int, end: int) -> int:
    return len([p for p in points if start <= p.ts_ms < end])


async def test_cached_rollup_hours_are_per_county_scope(env: ApiEnv) -> None:
    """A tag heard by two counties has a series and roll-ups under each. The prefecture
    admin's 24 h /series (both counties, warming the hour cache) is never served to the
    county admin, who sees its county's readings only (the raw answer), and back; also
    where no generation tells the scopes apart (roll-ups made before migration 0240)."""
    start, end, home, other = await _tag_day(env)
    for pts in (home, other):
        await _rollups_only(env.tsdb, pts, pts[0].county)
    prefecture = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    county = await env.headers(Role.COUNTY_ADMIN, OTHER)
    cache = query.hour_cache(env.tsdb)
    everyone = await _tag_series(env, prefecture, start, end)  # warms the cache
    assert sum(b["count"] for b in everyone) == _count(home + other, start, end)
    await _assert_is_raw(env, everyone, None)
    hits = cache.hits
    own = await _tag_series(env, county, start, end)
    assert sum(b["count"] for b in own) == _count(other, start, end)
    assert all(b["min"] >= 20.0 for b in own)
    await _assert_is_raw(env, own, [OTHER])
    assert cache.hits == hits  # nothing of the prefecture's hours served to the county
    assert await _tag_series(env, prefecture, start, end) == everyone  # its own cache
    assert await _tag_series(env, county, start, end) == own
    assert cache.hits > hits


async def test_rollup_generations_are_per_county(env: ApiEnv) -> None:
    """Roll-ups are recomputed per (device, county): marks and generations are read for
    the counties of the caller, so late data under one county makes only the scopes
    holding that county read the hour again; a county's cached hours stay valid."""
    start, end, home, other = await _tag_day(env)
    h_now = (end - 1) // HOUR_MS * HOUR_MS
    for pts in (home, other):
        await mark(env.db, pts)
    job = RollupJob(env.db, env.tsdb)
    await job.run_until_idle()
    # Mangshi's live hour is marked again (more came), Longchuan's is rolled up
    await mark(env.db, [p for p in home if p.ts_ms >= h_now])
    async with env.db.session() as s:
        state = await rollup_state(s, "cold_room", [TAG], start, end, [OTHER])
        assert state.pending == {} and state.generation == {TAG: ((OTHER, 1),)}
        state = await rollup_state(s, "cold_room", [TAG], start, end)
        assert state.pending == {TAG: {h_now}}
        assert state.generation == {TAG: ((HOME, 1), (OTHER, 1))}
    prefecture = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    county = await env.headers(Role.COUNTY_ADMIN, OTHER)
    cache = query.hour_cache(env.tsdb)
    everyone = await _tag_series(env, prefecture, start, end)
    await _assert_is_raw(env, everyone, None)
    own = await _tag_series(env, county, start, end)
    assert sum(b["count"] for b in own) == _count(other, start, end)
    await _assert_is_raw(env, own, [OTHER])

    # late data under Mangshi only, in an hour both scopes have cached
    late_hour = h_now - 6 * HOUR_MS
    late = [
        Point("cold_room", TAG, HOME, "site", t, {"temp_c": -3.0})
        for t in range(late_hour + 7_000, late_hour + HOUR_MS, 300_000)
    ]
    await env.tsdb.write(late)
    await mark(env.db, late)
    await job.run_until_idle()
    async with env.db.session() as s:
        state = await rollup_state(s, "cold_room", [TAG], start, end)
    assert state.generation == {TAG: ((HOME, 2), (OTHER, 1))}
    hits = cache.hits
    assert await _tag_series(env, county, start, end) == own  # still cached: unchanged
    assert cache.hits > hits
    after = await _tag_series(env, prefecture, start, end)  # read again, late data in
    assert sum(b["count"] for b in after) == sum(b["count"] for b in everyone) + len(late)
    await _assert_is_raw(env, after, None)


async def test_streamed_series_is_the_documented_shape(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    params = {
        "metric": "temp_c",
        "start": "2026-01-01T00:00:00.250Z",
        "end": "2026-01-01T01:00:00Z",
        "every": "1m",
    }
    r = await env.client.get("/api/v1/devices/gw-m1.room-1/series", params=params, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-length"] == str(len(r.content))  # small: sent whole
    one = SeriesOut.model_validate_json(r.content)
    assert r.json() == one.model_dump(mode="json")  # every field, nothing more
    monkeypatch.setattr(series_json, "STREAM_BYTES", 700)  # long: streamed in pieces
    streamed = await env.client.get("/api/v1/devices/gw-m1.room-1/series", params=params, headers=h)
    assert "content-length" not in streamed.headers and streamed.content == r.content
    assert one.start.isoformat() == "2026-01-01T00:00:00.250000+00:00"
    assert r.json()["start"] == "2026-01-01T00:00:00.250000Z"
    assert [b.count for b in one.buckets] == [1] * 59  # 00:00:00 is before start
    r = await env.client.get(
        "/api/v1/series",
        params={**params, "device": ["gw-m1.room-1", "gw-l1.room-1"]},
        headers=h,
    )
    many = MultiSeriesOut.model_validate_json(r.content)
    assert r.json() == many.model_dump(mode="json")
    assert [s.device for s in many.series] == ["gw-m1.room-1", "gw-l1.room-1"]
    assert sum(b.count for s in many.series for b in s.buckets) == 118
    # timestamps rendered as the models render them
    for ms in (0, 1_767_225_600_000, 1_767_225_600_123, 1_767_225_600_001):
        assert f'"{iso_ms(ms)}"' == _model_ts(ms)


def _model_ts(ms: int) -> str:
    from pydantic import TypeAdapter

    from cloud.devices.schemas import SeriesBucket

    return (
        TypeAdapter(SeriesBucket)
        .dump_json(SeriesBucket(ts=ms_to_dt(ms), ts_ms=ms, mean=None, min=None, max=None, count=0))
        .decode()
        .split('"ts":', 1)[1]
        .split(",", 1)[0]
    )
