"""The columnar write path: a series becomes one PointBlock (its value columns shared,
not copied), rendered straight to line protocol. Checked against the per-point path
it replaces: the same points, the same text; and the writer's bisection across blocks
still finds exactly the refused points, by their position."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.db import Database
from cloud.devices.storage import Device, Gateway
from cloud.ingest.convert import series_block, series_points
from cloud.ingest.registry import DeviceSeen, Registry
from cloud.ingest.writer import PointWriter, split
from cloud.timeseries import QUALITY_SUFFIX, Point, PointBlock, TimeSeriesError
from cloud.timeseries.lineprotocol import block_lines, lines
from cloud.timeseries.sqlite import SqliteStore
from protocol.messages import AssetKind, Series
from tests.support.schema import migrate_async

T0 = 1_700_000_000_000


def _old_series_points(
    series: Series, county: str, default_site: str, skip: Sequence[int] = ()
) -> list[Point]:
    """The per-point conversion ingest used before blocks (the reference)."""
    ts = series.timestamps()
    flags = series.flags_at()
    mobile = series.kind in (AssetKind.VEHICLE, AssetKind.BLE_TAG)
    site = "" if mobile else (series.site or default_site)
    fields_at: list[dict[str, float]] = [{} for _ in range(series.n)]
    for metric, column in series.values.items():
        mflags = flags.get(metric, {})
        for i, value in enumerate(column):
            if value is None:
                continue
            fields_at[i][metric] = value
            if mflags.get(i):
                fields_at[i][metric + QUALITY_SUFFIX] = float(mflags[i])
    return [
        Point(series.kind.value, series.device, county, site, ts[i], fields)
        for i, fields in enumerate(fields_at)
        if fields and i not in skip
    ]


SERIES = [
    Series(  # dense, uniform step
        device="gw-a.room-1",
        t0=T0,
        n=5,
        values={"temperature": [4.0, 4.1, 4.2, 4.3, 4.4], "door": [0.0, 1.0, 0.0, 0.0, 1.0]},
    ),
    Series(  # gaps, an instant with no reading at all, quality flags (own and "*")
        device="gw-a.room-2",
        site="coop-9",
        t0=T0,
        n=6,
        dt=[1000, 5, 2000, 1, 7],
        values={
            "temperature": [4.0, None, None, 1e-05, 2.5, 1e16],
            "humidity": [None, 80.0, None, 81.5, None, 79.0],
        },
        quality={"temperature": [[0, 2], [4, 8]], "*": [[5, 1], [1, 4]]},
    ),
    Series(  # a mobile asset: no site tag
        device="AA:BB:CC:DD:EE:FF",
        kind=AssetKind.BLE_TAG,
        site="somewhere",
        t0=T0,
        n=3,
        values={"temperature": [-1.5, -1.25, -1.0], "battery": [None, 3.0, None]},
    ),
]


@pytest.mark.parametrize("series", SERIES, ids=["dense", "sparse+quality", "mobile"])
@pytest.mark.parametrize("skip", [(), (0,), (1, 2, 4)])
def test_block_holds_the_same_points_and_renders_the_same_text(
    series: Series, skip: tuple[int, ...]
) -> None:
    expected = _old_series_points(series, "533103", "default-site", skip)
    block = series_block(series, "533103", "default-site", skip)
    if not expected:
        assert block is None
        return
    assert block is not None
    assert block.points() == expected
    assert series_points(series, "533103", "default-site", skip) == expected
    assert len(block) == len(expected)
    assert block_lines([block]) == lines(expected)


def test_dense_columns_are_shared_not_copied() -> None:
    block = series_block(SERIES[0], "533103", "s")
    assert block is not None
    assert block.columns["temperature"] is SERIES[0].values["temperature"]


def test_many_blocks_render_as_one_body() -> None:
    blocks = [b for s in SERIES if (b := series_block(s, "533103", "s")) is not None]
    hostile = PointBlock("m,1 x", "d 1,x=y", "533103", "s=1", [5, 6], {"f ,=": [1.0, 2.0]})
    blocks.append(hostile)
    points = [p for b in blocks for p in b.points()]
    assert block_lines(blocks) == lines(points)
    assert block_lines([]) == ""


def test_non_finite_values_are_refused() -> None:
    block = PointBlock("cold_room", "d", "533103", "s", [1, 2], {"t": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="non-finite"):
        block_lines([block])
    sparse = PointBlock("cold_room", "d", "533103", "s", [1, 2], {"t": [None, float("inf")]})
    with pytest.raises(ValueError, match="non-finite"):
        block_lines([sparse])


def test_split_cuts_across_blocks() -> None:
    a = PointBlock("m", "a", "c", "s", [1, 2, 3], {"x": [1.0, 2.0, 3.0]})
    b = PointBlock("m", "b", "c", "s", [4, 5], {"x": [4.0, None], "y": [None, 5.0]})
    for at in range(6):
        left, right = split([a, b], at)
        assert sum(map(len, left)) == at
        assert [p for x in left + right for p in x.points()] == a.points() + b.points()


class RefusingStore(SqliteStore):
    """Refuses (for content) any write holding a point whose "x" is negative, as
    InfluxDB 1.x refuses a whole request for one bad point."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.requests = 0

    async def write(self, points: Sequence[Point]) -> None:
        self.requests += 1
        bad = [p for p in points if p.fields.get("x", 0.0) < 0]
        if bad:
            raise TimeSeriesError(f"bad x at {bad[0].ts_ms}", retryable=False)
        await super().write(points)


async def test_bisection_over_blocks_returns_exactly_the_refused_points(tmp_path: Path) -> None:
    store = RefusingStore(tmp_path / "ts.db")
    await store.open()
    xs = [[1.0, -1.0, 2.0, 3.0], [4.0, 5.0], [-2.0, 6.0, None, -3.0]]
    blocks = [
        PointBlock(
            "cold_room",
            f"d{i}",
            "533103",
            "s",
            [T0 + j for j in range(len(col))],
            {"x": col, "y": [0.0] * len(col)},
        )
        for i, col in enumerate(xs)
    ]
    refused = await PointWriter(store).write(blocks)
    flat = [p for b in blocks for p in b.points()]
    assert [r.index for r in refused] == [1, 6, 9]
    assert [r.point for r in refused] == [flat[1], flat[6], flat[9]]
    assert all(r.reason.startswith("bad x") for r in refused)
    assert await store.count("cold_room") == len(flat) - 3
    await store.close()


async def test_registry_records_devices_in_one_statement_and_grows_metrics(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        s.add(Gateway(id="gw-a", county="533103", name="a", site="s", mqtt_password_hash="x"))
    registry = Registry(db)

    def seen(metrics: set[str], last_ms: int, readings: int) -> DeviceSeen:
        return DeviceSeen("gw-a.r1", "533103", "cold_room", "s", "gw-a", metrics, last_ms, readings)

    await registry.seen(["gw-a"], [seen({"t"}, 10, 5), seen({"h"}, 7, 2)])
    await registry.seen(["gw-a"], [seen({"t"}, 5, 1)])  # older reading: last stays 10
    await registry.seen(["gw-a"], [seen({"t", "door"}, 20, 4)])
    await registry.seen(["gw-a"], [seen({"t"}, 30, 1)])
    async with db.session() as s:
        (row,) = (await s.execute(select(Device))).scalars()
    assert row.metrics == ["door", "h", "t"]
    assert row.last_reading_ms == 30
    assert row.readings == 13
    await db.dispose()
