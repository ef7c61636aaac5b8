"""The ingest benchmark's raw baseline (bench/ingest.py) on the real InfluxDB: it
writes what it says it writes, in both point shapes."""

from __future__ import annotations

import pytest

from bench.ingest import raw_baseline
from tests.support.influx import fresh_store, unique_db


@pytest.mark.parametrize("fields", [1, 4])
async def test_raw_baseline_writes_its_points(fields: int) -> None:
    async with fresh_store(unique_db()) as store:
        figures = await raw_baseline(store.url, store.database, 0.2, fields=fields)
        assert figures["fields_per_point"] == fields
        assert figures["values_per_s"] == pytest.approx(figures["points_per_s"] * fields, rel=1e-3)
        rows = await store.query("SELECT count(temperature) FROM cold_room")
        stored = int(rows[0]["values"][0][1])
        # every line of the 40 bodies is a distinct point; bodies repeat after 40 writes
        assert stored == min(figures["points"], 40 * 5000) >= 5000
        if fields == 4:
            rows = await store.query("SELECT count(humidity) FROM cold_room")
            assert int(rows[0]["values"][0][1]) == stored
        else:
            rows = await store.query("SHOW FIELD KEYS FROM cold_room")
            assert [v[0] for v in rows[0]["values"]] == ["temperature"]
