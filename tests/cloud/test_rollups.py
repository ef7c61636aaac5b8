"""Roll-ups on both stores: late data (a backlog from three days ago) changes exactly
the roll-ups of the hours it touches; 1-min and 1-h roll-ups hold mean, min, max,
count and Σexp(−ΔH/RT); Beijing-time days; the query layer picks the resolution;
``dehong cloud init-db`` creates retention idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.convert import series_points
from cloud.ingest.pipeline import Ingest
from cloud.timeseries import query
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.rollup import RollupJob, rollup_state
from cloud.timeseries.windows import (
    DAY_MS,
    HOUR_MS,
    choose_resolution,
    mkt_celsius,
    rollup_fields,
    window_start,
)
from protocol.codec import encode
from protocol.messages import DataBatch, Series
from tests.support import influx
from tests.support.schema import migrate_async

GW = "mangshi-coop-01"
DEV = f"{GW}.room-1"
TOPIC = f"dh/v1/533103/{GW}/data"


def temps(t0: int, n: int) -> list[float]:
    return [round(4.0 + 3 * math.sin((t0 + i * 1000) / 600_000), 2) for i in range(n)]


def batch(seq: int, t0: int, n: int) -> bytes:
    series = Series(
        device=DEV,
        t0=t0,
        n=n,
        dt=1000,
        values={"temperature": temps(t0, n), "humidity": [80.0 + i % 5 for i in range(n)]},
    )
    return encode(DataBatch(gw=GW, seq=seq, id=f"b{seq:08d}", series=[series]))


async def _noop(_t: str, _p: bytes) -> None:
    return None


async def test_late_backlog_changes_exactly_its_rollups(ts_store, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        s.add(Gateway(id=GW, county="533103", name=GW, site="coop", mqtt_password_hash="x"))
    ingest = Ingest(db, ts_store, _noop, linger_s=0.01)
    writer = asyncio.create_task(ingest.run_writer())
    job = RollupJob(db, ts_store)
    now = int(time.time() * 1000)
    h0 = (now - 3 * DAY_MS) // HOUR_MS * HOUR_MS  # an hour three days ago
    try:
        # first the live data of today, rolled up
        await ingest.handle(TOPIC, batch(100, now - 120_000, 60))
        # then a backlog: the first half of hour h0 and all of h0+1, in 10-minute batches
        seq = 0
        for start in [
            *range(h0, h0 + HOUR_MS // 2, 600_000),
            *range(h0 + HOUR_MS, h0 + 2 * HOUR_MS, 600_000),
        ]:
            await ingest.handle(TOPIC, batch(seq, start, 600))
            seq += 1
        await ingest.drained()
        assert await job.run_until_idle() == 3  # h0, h0+1 and today's hour(s)
        got = await ts_store.aggregate(
            "cold_room", [DEV], "temperature", h0, h0 + 2 * HOUR_MS, HOUR_MS, "1h"
        )
        first, second = got[DEV]
        assert (first.count, second.count) == (1800, 3600)

        # late data: the missing half of h0 arrives days later; only h0 is recomputed
        for start in range(h0 + HOUR_MS // 2, h0 + HOUR_MS, 600_000):
            await ingest.handle(TOPIC, batch(seq, start, 600))
            seq += 1
        await ingest.drained()
        assert await job.run_until_idle() == 1
        got = await ts_store.aggregate(
            "cold_room", [DEV], "temperature", h0, h0 + 2 * HOUR_MS, HOUR_MS, "1h"
        )
        first, second = got[DEV]
        assert first.count == 3600 and second.count == 3600

        # the roll-up matches the raw data exactly, MKT included
        raw = await ts_store.raw_rows("cold_room", DEV, h0, h0 + HOUR_MS)
        values = [f["temperature"] for _, f in raw]
        assert len(values) == 3600
        assert first.min == pytest.approx(min(values))
        assert first.max == pytest.approx(max(values))
        assert first.mean == pytest.approx(sum(values) / 3600)
        expected_mkt = (
            -10_000 / math.log(sum(math.exp(-10_000 / (v + 273.15)) for v in values) / 3600)
            - 273.15
        )
        assert first.mkt == pytest.approx(expected_mkt, abs=1e-6)
        # 1-min roll-ups add up to the same hour; humidity has no MKT
        minutes = await ts_store.aggregate(
            "cold_room", [DEV], "temperature", h0, h0 + HOUR_MS, HOUR_MS, "1m"
        )
        assert minutes[DEV][0].count == 3600
        assert minutes[DEV][0].mkt == pytest.approx(expected_mkt, abs=1e-6)
        hum = await ts_store.aggregate(
            "cold_room", [DEV], "humidity", h0, h0 + HOUR_MS, HOUR_MS, "1h"
        )
        assert hum[DEV][0].mkt is None and hum[DEV][0].count == 3600

        # the query layer: a 14-day span in 1-day windows comes from the 1-h roll-ups,
        # and its days start at Beijing midnight (16:00 UTC)
        async with db.session() as s:
            res, days = await query.windows(
                ts_store,
                "cold_room",
                [DEV],
                "temperature",
                now - 14 * DAY_MS,
                now,
                DAY_MS,
                rollups=partial(rollup_state, s),
            )
        assert res == "1h"
        assert all((b.ts_ms - 16 * HOUR_MS) % DAY_MS == 0 for b in days[DEV])
        assert sum(b.count for b in days[DEV]) == 7200 + 60
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await db.dispose()


def test_rollup_arithmetic_and_windows() -> None:
    t = 1_767_225_600_000  # 2026-01-01T00:00Z = 08:00 Beijing
    assert window_start(t, DAY_MS) == t - 8 * HOUR_MS  # Beijing midnight, 16:00Z the day before
    assert window_start(t + 16 * HOUR_MS, DAY_MS) == t + 16 * HOUR_MS
    assert window_start(t + 59_999, 60_000) == t
    rows = [(t + i * 1000, {"temperature": 5.0, "temperature__q": 1.0}) for i in range(120)]
    out = rollup_fields(rows, 60_000)
    assert sorted(out) == [t, t + 60_000]
    f = out[t]
    assert f["temperature_count"] == 60 and f["temperature_mean"] == 5.0
    assert mkt_celsius(f["temperature_mkt"], f["temperature_count"]) == pytest.approx(5.0)
    assert not any("__q" in k for k in f)
    now = t + 400 * DAY_MS
    # the coarsest roll-up whose window divides every, whatever the span
    assert choose_resolution(now - DAY_MS, now, 60_000, now) == "1m"
    assert choose_resolution(now - DAY_MS, now, 300_000, now) == "1m"
    assert choose_resolution(now - DAY_MS, now, HOUR_MS, now) == "1h"
    assert choose_resolution(now - 30 * DAY_MS, now, DAY_MS, now) == "1h"
    assert choose_resolution(now - 200 * DAY_MS, now - 199 * DAY_MS, 60_000, now) == "1m"
    assert choose_resolution(now - DAY_MS, now, 30_000, now) == "raw"
    assert choose_resolution(now - DAY_MS, now, 90_000, now) == "raw"


@pytest.mark.influx
def test_init_db_creates_retention_idempotently(tmp_path: Path) -> None:
    url = influx.influx_url()
    database = influx.unique_db()
    env = {
        **os.environ,
        "DEHONG_DATABASE_URL": f"sqlite:///{tmp_path / 'rel.db'}",
        "DEHONG_INFLUX_URL": url,
        "DEHONG_INFLUX_DB": database,
    }
    try:
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-m", "dehong.cli", "cloud", "init-db"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert out.returncode == 0, out.stderr[-2000:]
            assert "roll-ups 1 m and 1 h 800 d" in out.stdout
        policies = asyncio.run(_policies(url, database))
        policies.pop("autogen", None)  # InfluxDB's own default, unused
        assert policies == {
            "raw": "2400h0m0s",
            "rollup_1m": "19200h0m0s",
            "rollup_1h": "19200h0m0s",
        }
    finally:
        asyncio.run(_drop(url, database))


async def _policies(url: str, database: str) -> dict[str, str]:
    store = InfluxStore(url, database=database)
    await store.open()
    try:
        return await store.retention_policies()
    finally:
        await store.close()


async def _drop(url: str, database: str) -> None:
    from cloud.timeseries.lineprotocol import quote_ident

    store = InfluxStore(url, database=database)
    store._client = __import__("httpx").AsyncClient(base_url=url)
    await store.query(f"DROP DATABASE {quote_ident(database)}", db=None)
    await store.close()


async def test_mobile_assets_are_one_series_whichever_gateway_heard_them(ts_store) -> None:
    t = int(time.time() * 1000) - HOUR_MS
    tag = Series(
        device="AA:BB:CC:DD:EE:FF",
        kind="ble_tag",
        t0=t,
        n=3,
        values={"temperature": [3.0, 3.1, 3.2]},
    )
    # heard by two gateways at two sites, the same readings and one more
    await ts_store.write(series_points(tag, "533103", "site-a"))
    await ts_store.write(
        series_points(
            tag.model_copy(update={"n": 4, "values": {"temperature": [3.0, 3.1, 3.2, 3.3]}}),
            "533103",
            "site-b",
        )
    )
    assert await ts_store.count("ble_tag", "AA:BB:CC:DD:EE:FF") == 4
    room = Series(device="gw-a.room-1", t0=t, n=1, values={"temperature": [3.0]})
    assert series_points(room, "533103", "site-a")[0].site == "site-a"  # fixed assets keep it
