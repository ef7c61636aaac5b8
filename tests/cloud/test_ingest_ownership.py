"""Ingest stores a mobile device's readings under its owner's county (issue 10, item 11).

On both time-series stores (SQLite and the real InfluxDB): the county tag written is
the registered owner's whichever county's gateway heard the tag; an unregistered tag
belongs, reading by reading, to the county that heard it, and the device to the
county that heard its newest reading; reads and roll-ups keep counties apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.db import Database, utcnow
from cloud.devices.storage import Device, Gateway
from cloud.ingest.pipeline import Ingest
from cloud.ingest.storage import DeadLetter
from cloud.timeseries import TimeSeriesStore
from cloud.timeseries.influx import InfluxStore
from cloud.timeseries.lineprotocol import quote_ident, quote_string
from cloud.timeseries.rollup import RollupJob
from cloud.timeseries.sqlite import SqliteStore
from cloud.timeseries.windows import HOUR_MS, MINUTE_MS
from protocol.codec import encode
from protocol.messages import AssetKind, Series
from tests.support.data import batch, now_ms, room_series
from tests.support.schema import migrate_async

HOME, OTHER = "533103", "533124"  # Mangshi, Longchuan
GW_M, GW_L = "mangshi-coop-01", "longchuan-wh-01"
TAG = "C0:FF:EE:00:00:01"


def topic(gw: str) -> str:
    return f"dh/v1/{HOME if gw == GW_M else OTHER}/{gw}/data"


def tag_series(device: str, t0: int, temps: list[float], kind: AssetKind = AssetKind.BLE_TAG):
    return Series(
        device=device, kind=kind, t0=t0, n=len(temps), dt=1000, values={"temperature": temps}
    )


class Env:
    def __init__(self, ingest: Ingest, db: Database, ts: TimeSeriesStore) -> None:
        self.ingest, self.db, self.ts = ingest, db, ts
        self._seq = 0

    async def hear(self, gw: str, *series: Series) -> None:
        self._seq += 1
        await self.ingest.handle(topic(gw), encode(batch(gw, self._seq, *series)))
        await self.ingest.drained()

    async def device(self, device_id: str) -> Device | None:
        async with self.db.session() as s:
            return await s.get(Device, device_id)

    async def register(self, device_id: str, county: str, kind: str = "ble_tag") -> None:
        from cloud.catalog.storage import MobileDevice, Organisation

        async with self.db.transaction() as s:
            org = Organisation(
                kind="carrier", name=f"Carrier of {county}", uscc=f"X{county}{self._seq:011d}",
                county=county, created_at=utcnow(), created_by="test",
            )  # fmt: skip
            s.add(org)
            await s.flush()
            s.add(
                MobileDevice(
                    device_id=device_id, kind=kind, org_id=org.id, county=county,
                    registered_at=utcnow(), registered_by="test",
                )
            )  # fmt: skip
            self._seq += 1

    async def county_tags(self, measurement: str, device: str) -> set[str]:
        """The county tags stored with the device's raw points, read from the store itself."""
        if isinstance(self.ts, SqliteStore):
            rows = self.ts._conn().execute(
                "SELECT DISTINCT county FROM points WHERE measurement = ? AND device = ?",
                (measurement, device),
            )
            return {r[0] for r in rows}
        assert isinstance(self.ts, InfluxStore)
        series = await self.ts.query(
            f"SHOW TAG VALUES FROM {quote_ident(measurement)} WITH KEY = county "
            f"WHERE device = {quote_string(device)}"
        )
        return {row[1] for s in series for row in s.get("values", [])}


@pytest.fixture
async def env(tmp_path: Path, ts_store: TimeSeriesStore) -> AsyncIterator[Env]:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        for gid, county in ((GW_M, HOME), (GW_L, OTHER)):
            s.add(
                Gateway(id=gid, county=county, name=gid, site="site-" + gid, mqtt_password_hash="x")
            )

    async def publish(topic: str, payload: bytes) -> None:
        return None

    ingest = Ingest(db, ts_store, publish, linger_s=0.01)
    writer = asyncio.create_task(ingest.run_writer())
    yield Env(ingest, db, ts_store)
    writer.cancel()
    await db.dispose()


async def test_registered_tag_is_stored_under_its_owners_county(env: Env) -> None:
    await env.register(TAG, OTHER)  # a Longchuan carrier's tag ...
    t = now_ms() - 60_000
    await env.hear(GW_M, tag_series(TAG, t, [2.0, 2.5]))  # ... heard in Mangshi
    assert await env.county_tags("ble_tag", TAG) == {OTHER}
    dev = await env.device(TAG)
    assert dev is not None and dev.county == OTHER and dev.gateway_id == GW_M
    assert [v.value for v in await env.ts.latest("ble_tag", TAG, counties=[OTHER])] == [2.5]
    assert await env.ts.latest("ble_tag", TAG, counties=[HOME]) == []


async def test_registered_vehicle_heard_by_either_county_is_one_series(env: Env) -> None:
    truck = "YUN-N12345"
    await env.register(truck, OTHER, kind="vehicle")
    t = now_ms() - 60_000
    await env.hear(GW_L, tag_series(truck, t, [3.0], AssetKind.VEHICLE))
    await env.hear(GW_M, tag_series(truck, t + 1000, [3.5], AssetKind.VEHICLE))
    await env.hear(GW_M, tag_series(truck, t, [3.0], AssetKind.VEHICLE))  # heard twice: one point
    assert await env.county_tags("vehicle", truck) == {OTHER}
    assert await env.ts.count("vehicle", truck) == 2


async def test_unregistered_tag_belongs_to_the_county_that_heard_it(env: Env) -> None:
    t = now_ms() - 10 * 60_000
    await env.hear(GW_M, tag_series(TAG, t, [5.0]))
    dev = await env.device(TAG)
    assert dev is not None and dev.county == HOME
    await env.hear(GW_L, tag_series(TAG, t + 60_000, [9.0]))
    # each reading under the county that heard it; the device where it was heard last
    assert await env.county_tags("ble_tag", TAG) == {HOME, OTHER}
    dev = await env.device(TAG)
    assert dev is not None and dev.county == OTHER and dev.gateway_id == GW_L
    assert [v.value for v in await env.ts.latest("ble_tag", TAG, counties=[OTHER])] == [9.0]
    assert [v.value for v in await env.ts.latest("ble_tag", TAG, counties=[HOME])] == [5.0]
    # a late backlog from Mangshi (older readings) does not move it back
    await env.hear(GW_M, tag_series(TAG, t - 60_000, [4.0]))
    dev = await env.device(TAG)
    assert dev is not None and dev.county == OTHER


async def test_registration_takes_effect_within_the_owners_ttl(env: Env) -> None:
    clock = [1000.0]
    env.ingest.owners.clock = lambda: clock[0]
    t = now_ms() - 60_000
    await env.hear(GW_M, tag_series(TAG, t, [1.0]))  # not registered yet: Mangshi's
    await env.register(TAG, OTHER)
    clock[0] += env.ingest.owners.ttl_s  # the cached "not registered" expires
    await env.hear(GW_M, tag_series(TAG, t + 1000, [1.5]))
    assert await env.county_tags("ble_tag", TAG) == {HOME, OTHER}
    assert [v.ts_ms for v in await env.ts.latest("ble_tag", TAG, counties=[OTHER])] == [t + 1000]
    dev = await env.device(TAG)
    assert dev is not None and dev.county == OTHER


async def dead_letters(db: Database) -> list[DeadLetter]:
    async with db.session() as s:
        return list((await s.execute(select(DeadLetter).order_by(DeadLetter.id))).scalars())


async def test_undotted_fixed_device_is_refused_and_ibeacon_ids_are_taken(env: Env) -> None:
    t = now_ms() - 60_000
    ibeacon = "fda50693-a4e2-4fb1-afcf-c6eb07647825.10001.7"  # uuid.major.minor, dots and all
    # "room-1" exists on every gateway: a wired device must be "{gateway}.room-1"
    await env.hear(GW_L, room_series("room-1", t), tag_series(ibeacon, t, [6.0]))
    ((dl,),) = [await dead_letters(env.db)]
    assert dl.code == "device_not_owned" and dl.field == "series[0].device", dl.reason
    assert "'longchuan-wh-01.<local>'" in dl.reason
    assert await env.device("room-1") is None
    assert await env.county_tags("ble_tag", ibeacon) == {OTHER}


async def test_a_tag_may_not_borrow_another_gateways_prefix(env: Env) -> None:
    t = now_ms() - 60_000
    await env.hear(GW_L, room_series(f"{GW_L}.room-1", t))
    await env.hear(GW_M, tag_series(f"{GW_L}.room-1", t, [1.0]))
    ((dl,),) = [await dead_letters(env.db)]
    assert dl.code == "device_not_owned" and GW_L in dl.reason
    dev = await env.device(f"{GW_L}.room-1")
    assert dev is not None and dev.county == OTHER


async def test_rollups_of_a_tag_heard_by_two_counties_keep_them_apart(env: Env) -> None:
    hour = (int(time.time() * 1000) - 2 * HOUR_MS) // HOUR_MS * HOUR_MS
    await env.hear(GW_M, tag_series(TAG, hour + MINUTE_MS, [1.0, 1.0, 1.0]))
    await env.hear(GW_L, tag_series(TAG, hour + 2 * MINUTE_MS, [7.0, 7.0]))
    await RollupJob(env.db, env.ts).run_until_idle()
    got: dict[str, Any] = {}
    for county in (HOME, OTHER):
        out = await env.ts.aggregate(
            "ble_tag", [TAG], "temperature", hour, hour + HOUR_MS, HOUR_MS, "1h", counties=[county]
        )
        (bucket,) = out[TAG]
        got[county] = (bucket.count, bucket.mean)
    assert got == {HOME: (3, 1.0), OTHER: (2, 7.0)}
    everyone = await env.ts.aggregate(
        "ble_tag", [TAG], "temperature", hour, hour + HOUR_MS, HOUR_MS, "1h"
    )
    assert [(b.count, b.mean) for b in everyone[TAG]] == [(5, 3.4)]
