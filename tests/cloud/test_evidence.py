"""Sensor evidence on both stores (InfluxDB and SQLite): irregular readings with lost
polls, gaps (one across an hour boundary) and excursions, rolled up by the job; interval
ends off every window boundary. Evidence from current roll-ups (``auto``) equals the raw
computation; from roll-ups alone (raw expired, or forced) it agrees within 0.1 °C and
bounds the time outside; late data, another poll interval, counties and bad input."""

from __future__ import annotations

import asyncio
import math
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.timeseries import Point, TimeSeriesStore
from cloud.timeseries.kinetics import Evidence, arrhenius
from cloud.timeseries.rollup import RollupJob, mark, rollup_state
from cloud.timeseries.rollup_sums import hour_sums
from cloud.timeseries.windows import DAY_MS, HOUR_MS, MINUTE_MS, rollup_fields
from tests.support.api import HOME, OTHER

DEV = "gw-e1.room-1"
ONLY_ROLLUPS = "gw-e1.room-2"  # the same readings, as roll-ups only (raw expired)
POLL_S = 10.0
LOW, HIGH = 2.0, 8.0


def _value(t: int, h0: int) -> float:
    base = 5.0 + 2.5 * math.sin((t - h0) / 1_500_000)
    if h0 + 4 * HOUR_MS + 600_000 <= t < h0 + 4 * HOUR_MS + 1_320_000:
        return 11.0 + (t // 10_000) % 3  # a 12-minute excursion above 8 °C
    if h0 + HOUR_MS + 1_800_000 <= t < h0 + HOUR_MS + 1_980_000:
        return 0.5  # 3 minutes below 2 °C
    return round(base, 3)


def _readings(h0: int) -> list[Point]:
    """Six hours at a 10 s poll: jitter, every 13th poll lost, a 20-minute gap, a 90 s
    gap across an hour boundary; humidity on every other poll."""
    out = []
    for i in range(6 * 360):
        t = h0 + i * 10_000 + (i * 37) % 300
        if i % 13 == 5:
            continue
        if h0 + 2 * HOUR_MS + 600_000 <= t < h0 + 2 * HOUR_MS + 1_800_000:
            continue
        if h0 + 3 * HOUR_MS - 45_000 <= t < h0 + 3 * HOUR_MS + 45_000:
            continue
        fields = {"temperature": _value(t, h0)}
        if i % 2 == 0:
            fields["humidity"] = 70.0 + (i % 11)
        out.append(Point("cold_room", DEV, HOME, "site", t, fields))
    return out


async def _rollups_only(store: TimeSeriesStore, points: list[Point], device: str) -> None:
    """The roll-ups the job makes of these points, written for ``device``, whose raw
    readings are never written (as after raw retention)."""
    hours = sorted({p.ts_ms // HOUR_MS * HOUR_MS for p in points})
    hours.append(hours[-1] + HOUR_MS)
    last: dict[str, tuple[int, float]] = {}
    for h in hours:
        rows = [(p.ts_ms, p.fields) for p in points if h <= p.ts_ms < h + HOUR_MS]
        sums = hour_sums(rows, h, dict(last))
        last = sums.last
        for resolution, every in (("1m", MINUTE_MS), ("1h", HOUR_MS)):
            windows = rollup_fields(rows, every)
            for w, f in sums.fields[resolution].items():
                windows.setdefault(w, {}).update(f)
            await store.write_rollups(
                resolution,  # type: ignore[arg-type]
                [Point("cold_room", device, HOME, "site", w, f) for w, f in windows.items()],
            )


@dataclass
class Env:
    store: TimeSeriesStore
    db: Database
    h0: int
    points: list[Point]

    async def evidence(self, start: int, end: int, **kw: object) -> Evidence:
        kw.setdefault("counties", [HOME])
        kw.setdefault("poll_interval_s", POLL_S)
        kw.setdefault("low", LOW)
        kw.setdefault("high", HIGH)
        device = str(kw.pop("device", DEV))
        async with self.db.session() as s:
            if kw.pop("with_state", True):
                kw["rollups"] = partial(rollup_state, s)
            return await self.store.evidence(device, "temperature", start, end, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated relational database, made once and copied by each test."""
    path = tmp_path_factory.mktemp("evidence") / "rel.db"
    asyncio.run(upgrade_async(f"sqlite:///{path}"))
    return path


@pytest.fixture
async def env(ts_store: TimeSeriesStore, tmp_path: Path, migrated: Path) -> AsyncIterator[Env]:
    shutil.copy(migrated, tmp_path / "rel.db")
    db = Database(f"sqlite:///{tmp_path / 'rel.db'}")
    h0 = (int(time.time() * 1000) - 9 * HOUR_MS) // HOUR_MS * HOUR_MS
    points = _readings(h0)
    await ts_store.write(points)
    await mark(db, points)
    assert await RollupJob(db, ts_store).run_until_idle() == 6
    await _rollups_only(ts_store, points, ONLY_ROLLUPS)
    try:
        yield Env(ts_store, db, h0, points)
    finally:
        await db.dispose()


def _expected(points: list[Point], start: int, end: int) -> tuple[float, float, float]:
    """Mean, MKT and covered seconds of the held signal, computed here independently:
    each reading holds until the next, at most 20 s."""
    series = [(p.ts_ms, p.fields["temperature"]) for p in points]
    weights: list[tuple[float, float]] = []
    for (t, v), nxt in zip(series, [*series[1:], (None, None)], strict=True):
        stop = min(t + 20_000, nxt[0] if nxt[0] is not None else t + 20_000)
        a, b = max(t, start), min(stop, end)
        if b > a:
            weights.append((v, (b - a) / 1000))
    total = sum(w for _, w in weights)
    mean = sum(v * w for v, w in weights) / total
    mkt = -10_000 / math.log(sum(arrhenius(v) * w for v, w in weights) / total) - 273.15
    return mean, mkt, total


def _equal(a: Evidence, b: Evidence) -> None:
    assert a.n == b.n
    for name in (
        "mean",
        "mkt",
        "min",
        "max",
        "covered_s",
        "coverage",
        "seconds_below",
        "seconds_above",
        "cumulative_excursion_s",
        "longest_excursion_s",
    ):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=1e-9), name


def _agree(rollup: Evidence, raw: Evidence, *, edges: bool = True) -> None:
    """Within 0.1 °C; the time outside from roll-ups bounds the raw time outside.
    Without the ``edges`` (raw gone: the partial minutes at the ends are missing) the
    range is the part of the raw range that the whole minutes saw."""
    for name in ("mean", "mkt", *(("min", "max") if edges else ())):
        assert getattr(rollup, name) == pytest.approx(getattr(raw, name), abs=0.1), name
    if not edges:
        assert raw.min <= rollup.min <= rollup.max <= raw.max  # type: ignore[operator]
    for name in ("seconds_below", "seconds_above", "longest_excursion_s"):
        assert getattr(rollup, name) >= getattr(raw, name) - 1e-6, name
    assert rollup.cumulative_excursion_s - rollup.uncertain_s <= raw.cumulative_excursion_s + 1e-6
    assert rollup.cumulative_excursion_s >= raw.cumulative_excursion_s - 1e-6


async def test_evidence_from_rollups_equals_raw(env: Env) -> None:
    h0 = env.h0
    intervals = [
        (h0 + 17 * MINUTE_MS + 23_500, h0 + 6 * HOUR_MS - 41 * MINUTE_MS - 7_000),
        (h0 + 4 * HOUR_MS + 190_000, h0 + 4 * HOUR_MS + 50 * MINUTE_MS),  # in one hour
        (h0 - 30 * MINUTE_MS, h0 + 2 * HOUR_MS + 1),  # begins before the first reading
        (h0 + 2 * HOUR_MS + 59 * MINUTE_MS + 30_001, h0 + 3 * HOUR_MS + 90_000),  # the gap
        (h0 + HOUR_MS, h0 + 5 * HOUR_MS),  # whole hours
    ]
    for start, end in intervals:
        raw = await env.evidence(start, end, source="raw")
        mean, mkt, covered = _expected(env.points, start, end)
        assert (raw.mean, raw.mkt, raw.covered_s) == pytest.approx((mean, mkt, covered))
        assert raw.source == "raw" and raw.rollup_s == 0
        auto = await env.evidence(start, end)
        _equal(auto, raw)
        assert auto.source == "raw" and auto.uncertain_s == 0
        forced = await env.evidence(start, end, source="rollup")
        assert forced.source == "rollup" and forced.rollup_s > 0
        for name in ("mean", "mkt", "min", "max", "covered_s"):  # edges read raw
            assert getattr(forced, name) == pytest.approx(getattr(raw, name), rel=1e-9), name
        _agree(forced, raw)
        # raw data gone: the roll-ups alone, whole minutes only
        gone = await env.evidence(start, end, device=ONLY_ROLLUPS, source="rollup")
        _agree(gone, raw, edges=False)
        assert raw.covered_s - 120 <= gone.covered_s <= raw.covered_s + 1e-6
        assert gone.n <= raw.n

    # the current roll-ups did answer: all but the minutes crossing a limit (the two
    # ends of each excursion), read raw
    whole_hours = await env.evidence(*intervals[4])
    assert 4 * 3600 - 6 * 60 <= whole_hours.rollup_s < 4 * 3600
    first = await env.evidence(*intervals[0], source="raw")
    assert first.seconds_above == pytest.approx(720, abs=25) and first.seconds_below > 170
    assert first.longest_excursion_s == pytest.approx(720, abs=25)
    assert first.coverage < 0.96  # the 20-minute gap and lost polls count against it
    assert first.max is not None and first.max >= 11.0
    # a whole interval of roll-ups knows the excursions to the minute, as upper bounds
    gone = await env.evidence(*intervals[0], device=ONLY_ROLLUPS, source="rollup")
    assert 0 < gone.uncertain_s <= 4 * 60
    assert gone.longest_excursion_s <= first.longest_excursion_s + 2 * 60

    # counties and bad input
    start, end = env.h0, env.h0 + 3 * HOUR_MS
    for source in ("raw", "auto", "rollup"):
        other = await env.evidence(start, end, counties=[OTHER], source=source)
        assert (other.n, other.covered_s, other.mean, other.max) == (0, 0, None, None)
        none = await env.evidence(start, end, counties=[], source=source)
        assert none.n == 0 and none.coverage == 0
    both = await env.evidence(start, end, counties=None)
    assert both.n > 0 and both.n == (await env.evidence(start, end)).n
    for kw, field in (
        ({"poll_interval_s": 0}, "poll_interval_s"),
        ({"low": 9.0, "high": 1.0}, "low"),
        ({"source": "cache"}, "source"),
    ):
        with pytest.raises(ValueError, match=field):
            await env.evidence(start, end, **kw)
    with pytest.raises(ValueError, match="end"):
        await env.evidence(end, start)
    with pytest.raises(ValueError, match="metric"):
        await env.store.evidence(
            DEV, "temp; DROP", start, end, counties=None, poll_interval_s=POLL_S
        )


async def test_expired_raw_late_data_and_another_poll_interval(env: Env) -> None:
    """Past raw retention the roll-ups answer, the edges from raw where raw still is;
    late data (marked, not yet rolled up) and a poll interval other than the roll-ups'
    keep ``auto`` exact: those hours are read raw."""
    start, end = env.h0 + 100_500, env.h0 + 5 * HOUR_MS + 59_999
    later = end + 101 * DAY_MS
    raw = await env.evidence(start, end, source="raw")
    auto = await env.evidence(start, end, now_ms=later, with_state=False)
    assert auto.source == "rollup" and auto.approx_s == 0
    assert (auto.mean, auto.mkt, auto.covered_s) == pytest.approx(
        (raw.mean, raw.mkt, raw.covered_s), rel=1e-9
    )
    _agree(auto, raw)
    gone = await env.evidence(start, end, device=ONLY_ROLLUPS, now_ms=later, with_state=False)
    _agree(gone, raw, edges=False)
    # without the roll-up state and inside retention, raw it is
    plain = await env.evidence(start, end, with_state=False)
    _equal(plain, raw)
    assert plain.source == "raw"
    # the device's measurement is found when not given; a device with no data has none
    nothing = await env.evidence(start, end, device="gw-e1.nowhere")
    assert (nothing.n, nothing.covered_s, nothing.mean, nothing.coverage) == (0, 0, None, 0)

    # late data, and another poll interval, stay exact
    h0 = env.h0
    start, end = h0 + 30_500, h0 + 6 * HOUR_MS - 1
    # late readings in hour 2's gap, marked but not rolled up yet: that hour and the
    # next (its last reading holds into it) are read raw
    late = [
        Point("cold_room", DEV, HOME, "site", t, {"temperature": 9.5})
        for t in range(h0 + 2 * HOUR_MS + 600_000, h0 + 2 * HOUR_MS + 1_800_000, 10_000)
    ]
    # and one 5 s before hour 3, in the gap across its start: it holds 15 s into hour 3
    late.append(
        Point("cold_room", DEV, HOME, "site", h0 + 3 * HOUR_MS - 5_000, {"temperature": 30.0})
    )
    await env.store.write(late)
    await mark(env.db, late)
    raw = await env.evidence(start, end, source="raw")
    _equal(await env.evidence(start, end), raw)
    assert await RollupJob(env.db, env.store).run_until_idle() == 1
    after = await env.evidence(start, end)
    _equal(after, raw)
    assert after.rollup_s > 3600
    # hour 3 was recomputed with hour 2: its roll-ups hold the late reading's 15 s
    head = (h0 + 3 * HOUR_MS, h0 + 3 * HOUR_MS + 10 * MINUTE_MS)
    from_rollups = await env.evidence(*head, source="rollup", low=None, high=None)
    from_raw = await env.evidence(*head, source="raw", low=None, high=None)
    assert from_rollups.rollup_s == 600 and from_raw.max == 30.0
    _equal(from_rollups, from_raw)
    # the roll-ups were weighed with the 10 s cadence; asked for 30 s, auto reads raw
    slow_raw = await env.evidence(start, end, source="raw", poll_interval_s=30.0)
    assert slow_raw.covered_s > raw.covered_s
    _equal(await env.evidence(start, end, poll_interval_s=30.0), slow_raw)
    forced = await env.evidence(start, end, source="rollup", poll_interval_s=30.0)
    assert forced.approx_s > 0 and forced.mean == pytest.approx(slow_raw.mean, abs=0.1)
