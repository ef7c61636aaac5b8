"""The time-series contract, on both implementations (SQLite and the real InfluxDB)."""

from __future__ import annotations

import time

import pytest

from cloud.timeseries import QUALITY_SUFFIX, Point, TimeSeriesError
from cloud.timeseries.base import columns_of_rows
from cloud.timeseries.lineprotocol import point_line, quote_ident, quote_string

T0 = (int(time.time() * 1000) - 86_400_000) // 60_000 * 60_000  # a minute boundary, yesterday


def pt(ts: int, **fields: float) -> Point:
    return Point("cold_room", "gw-a.room-1", "533103", "coop-1", ts, dict(fields))


async def test_write_latest_range(ts_store) -> None:
    points = [pt(T0 + i * 1000, temperature=4.0 + i / 10, humidity=80.0) for i in range(120)]
    await ts_store.write(points)
    latest = {v.metric: v for v in await ts_store.latest("cold_room", "gw-a.room-1")}
    assert set(latest) == {"temperature", "humidity"}
    assert latest["temperature"].ts_ms == T0 + 119_000
    assert latest["temperature"].value == pytest.approx(15.9)
    buckets = await ts_store.range(
        "cold_room", "gw-a.room-1", "temperature", T0, T0 + 120_000, 60_000
    )
    assert [b.count for b in buckets] == [60, 60]
    assert buckets[0].ts_ms == T0 - T0 % 60_000 or buckets[0].ts_ms == T0
    assert buckets[0].min == pytest.approx(4.0)
    assert buckets[1].max == pytest.approx(15.9)
    assert await ts_store.count("cold_room") == 120


async def test_rewrite_is_idempotent_and_fields_merge(ts_store) -> None:
    await ts_store.write([pt(T0, temperature=1.0)])
    await ts_store.write([pt(T0, temperature=1.0)])
    await ts_store.write([pt(T0, humidity=70.0)])
    assert await ts_store.count("cold_room", "gw-a.room-1") == 1
    latest = {v.metric: v.value for v in await ts_store.latest("cold_room", "gw-a.room-1")}
    assert latest == {"temperature": 1.0, "humidity": 70.0}


async def test_quality_is_folded_into_latest(ts_store) -> None:
    await ts_store.write([pt(T0, temperature=5.0, **{"temperature" + QUALITY_SUFFIX: 1.0})])
    (value,) = await ts_store.latest("cold_room", "gw-a.room-1")
    assert value.metric == "temperature"
    assert value.quality == 1


async def test_hostile_identifiers_do_not_inject(ts_store) -> None:
    await ts_store.write([pt(T0, temperature=5.0)])
    evil = "x' OR device =~ /.*/ --"
    assert await ts_store.latest("cold_room", evil) == []
    assert await ts_store.range("cold_room", evil, "temperature", T0 - 1, T0 + 1, 1000) == []
    # a metric that tries to close the identifier: refused by name, never sent
    with pytest.raises(ValueError, match="invalid metric name"):
        await ts_store.range(
            "cold_room",
            "gw-a.room-1",
            'temperature") FROM x; DROP DATABASE "y',
            T0 - 1,
            T0 + 1,
            1000,
        )


def test_line_protocol_escaping() -> None:
    p = Point("cold room", "a,b=c d", "533103", "s", 1, {"x y": 1.0})
    assert point_line(p) == r"cold\ room,county=533103,device=a\,b\=c\ d,site=s x\ y=1.0 1"
    assert quote_string("a'b\\") == r"'a\'b\\'"
    assert quote_ident('a"b') == r'"a\"b"'
    with pytest.raises(ValueError, match="non-finite"):
        point_line(Point("m", "d", "c", "s", 1, {"x": float("nan")}))


async def test_influx_down_is_retryable() -> None:
    from cloud.timeseries.influx import InfluxStore
    from tests.support.services import free_port

    store = InfluxStore(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    with pytest.raises(TimeSeriesError) as err:
        await store.open()
    assert err.value.retryable
    await store.close()


async def test_sqlite_close_waits_for_a_call_whose_caller_was_cancelled(tmp_path) -> None:
    """A cancelled caller (an ingest writer stopped at shutdown) leaves its call running
    on the worker thread; closing the connection under it crashed the process
    (a segmentation fault in the CI run). Close waits for the call instead."""
    import asyncio
    import sqlite3
    import threading

    from cloud.timeseries.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "ts.db")
    await store.open()
    started, go = threading.Event(), threading.Event()
    outcome: list[object] = []

    def slow(db: sqlite3.Connection) -> None:
        started.set()
        go.wait(10)
        try:
            outcome.append(db.execute("SELECT count(*) FROM points").fetchone()[0])
        except sqlite3.Error as exc:
            outcome.append(exc)

    call = asyncio.create_task(store._run(slow))
    assert await asyncio.to_thread(started.wait, 10)
    call.cancel()
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0.2)
    assert not closing.done(), "close() did not wait for the call on the worker thread"
    go.set()
    await asyncio.wait_for(closing, 10)
    assert outcome == [0]
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_aggregate_parts_of_every_device(ts_store) -> None:  # type: ignore[no-untyped-def]
    """``devices=None`` (the wall's aggregates): every device of the measurement, under
    the counties asked for, the same windows as naming them all."""
    from cloud.timeseries.base import Point as P

    t0 = 1_790_000_000_000
    await ts_store.write([
        P("cold_room", f"agg-{c}-{d}", c, "s", t0 + k * 60_000, {"temperature": 1.0 + d + k})
        for c in ("533103", "533124") for d in range(3) for k in range(10)
    ])  # fmt: skip
    named = [f"agg-{c}-{d}" for c in ("533103", "533124") for d in range(3)]
    span = [(t0, t0 + 600_000)]
    every = await ts_store.aggregate_parts("cold_room", None, "temperature", span, 300_000, "raw")
    listed = await ts_store.aggregate_parts("cold_room", named, "temperature", span, 300_000, "raw")
    assert {d: {w: (p.total, p.count) for w, p in ws.items()} for d, ws in every.items()} == {
        d: {w: (p.total, p.count) for w, p in ws.items()} for d, ws in listed.items()
    }
    one = await ts_store.aggregate_parts(
        "cold_room", None, "temperature", span, 300_000, "raw", counties=["533124"]
    )
    assert set(one) == {f"agg-533124-{d}" for d in range(3)}
    assert (
        await ts_store.aggregate_parts("cold_room", [], "temperature", span, 300_000, "raw") == {}
    )


async def test_raw_rows_by_time_with_each_instants_fields(ts_store) -> None:  # type: ignore[no-untyped-def]
    """raw_rows: one row per instant in time order, holding the fields written at that
    instant (not every field everywhere), only the device's, in [start, end), under the
    counties asked for."""
    dev = "gw-a.room-1"
    await ts_store.write([
        pt(T0 + 2000, temperature=2.0, humidity=60.0),
        pt(T0, temperature=1.0),
        pt(T0 + 1000, humidity=70.0, door=1.0),
        pt(T0 + 3000, temperature=3.0),  # past the end
        pt(T0 - 1000, temperature=0.5),  # before the start
        Point("cold_room", "gw-a.room-2", "533103", "coop-1", T0, {"temperature": 9.0}),
        Point("cold_room", dev, "533102", "coop-2", T0 + 2000, {"co2": 400.0}),
    ])  # fmt: skip
    mine = await ts_store.raw_rows("cold_room", dev, T0, T0 + 3000, counties=["533103"])
    assert mine == [
        (T0, {"temperature": 1.0}),
        (T0 + 1000, {"humidity": 70.0, "door": 1.0}),
        (T0 + 2000, {"temperature": 2.0, "humidity": 60.0}),
    ]
    both = await ts_store.raw_rows("cold_room", dev, T0, T0 + 3000)
    at_2s = {k: v for t, f in both if t == T0 + 2000 for k, v in f.items()}
    assert at_2s == {"temperature": 2.0, "humidity": 60.0, "co2": 400.0}
    assert [t for t, _ in both] == sorted(t for t, _ in both)
    uniform = await ts_store.raw_rows("cold_room", "gw-a.room-2", T0, T0 + 1)
    assert uniform == [(T0, {"temperature": 9.0})]
    assert await ts_store.raw_rows("cold_room", dev, T0, T0 + 3000, counties=[]) == []
    # the same as columns (None: a field not written at that instant)
    cols = await ts_store.raw_columns("cold_room", dev, T0, T0 + 3000, counties=["533103"])
    assert cols == columns_of_rows(mine)
    assert cols[0] == [T0, T0 + 1000, T0 + 2000]
    assert cols[1]["temperature"] == [1.0, None, 2.0]
    assert await ts_store.raw_columns("cold_room", "gw-a.room-2", T0, T0 + 1) == (
        [T0],
        {"temperature": [9.0]},
    )
    assert await ts_store.raw_columns("cold_room", dev, T0, T0 + 3000, counties=[]) == ([], {})
