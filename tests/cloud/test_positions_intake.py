"""The intake on both time-series stores (embedded SQLite and the real InfluxDB): a
late batch interleaved with stored fixes is filtered against them (duplicates, a jump
from the stored fix before it) and reads back in fix-time order."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cloud.db import Database
from cloud.logistics.positions import trackers as svc
from cloud.logistics.positions.fix import Fix
from cloud.logistics.positions.intake import PositionIntake, UnknownDevice
from cloud.logistics.positions.parse import Parsed
from cloud.logistics.positions.read import positions_of
from cloud.timeseries import TimeSeriesStore
from tests.support.schema import migrate_async

COUNTY = "533124"


@pytest.mark.influx
async def test_late_fixes_filtered_against_stored_ones(
    ts_store: TimeSeriesStore, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    from cloud.catalog.storage import MobileDevice, Organisation
    from cloud.db import utcnow

    async with db.transaction() as s:
        org = Organisation(kind="carrier", name="陇川物流", uscc="Z533124000000002", county=COUNTY,
                           created_at=utcnow(), created_by="t")  # fmt: skip
        s.add(org)
        await s.flush()
        reg = MobileDevice(device_id="truck-lc-1", kind="vehicle", org_id=org.id, county=COUNTY,
                           registered_at=utcnow(), registered_by="t")  # fmt: skip
        s.add(reg)
        await s.flush()
        issued = await svc.create(
            s, reg, label="", speed_unit="ms", server_url="http://x/", actor="t"
        )
    dev = issued.device_id
    intake = PositionIntake(db, ts_store)
    t0 = (int(time.time()) - 3600) * 1000
    try:
        live = [Parsed(dev, Fix(t0 + i * 60_000, 24.30 + i * 0.001, 97.90)) for i in (0, 2, 4)]
        for p in live:
            assert (await intake.accept([p], "query")).accepted == 1
        intake._last.clear()  # another process: nothing cached, the store is read
        late = [
            Parsed(dev, Fix(t0 + 60_000, 24.301, 97.90)),  # between stored fixes: kept
            Parsed(dev, Fix(t0 + 120_000, 24.302, 97.90)),  # duplicate of a stored one
            Parsed(dev, Fix(t0 + 180_000, 25.5, 97.90)),  # 130 km in a minute from the fix before
        ]
        out = await intake.accept(late, "batch")
        assert (out.accepted, dict(out.filtered)) == (1, {"duplicate": 1, "jump": 1})
        fixes = await positions_of(ts_store, "truck-lc-1", t0, t0 + 600_000, counties=[COUNTY])
        assert [f.ts_ms - t0 for f in fixes] == [0, 60_000, 120_000, 240_000]
        with pytest.raises(UnknownDevice):
            await intake.accept([Parsed("no-such-device-id-000000", Fix(t0, 24.3, 97.9))], "query")
    finally:
        await intake.close()
        await db.dispose()
