"""The ingest benchmarks' parts: the raw baseline (bench/ingest.py) on the real
InfluxDB writes fresh points, as many as it says, in both point shapes; the in-process
profile (bench/ingest_profile.py) runs from the CLI and accounts for its points."""

from __future__ import annotations

import pytest

from bench.ingest import raw_baseline
from tests.support.influx import fresh_store, unique_db


@pytest.mark.parametrize("fields", [1, 4])
async def test_raw_baseline_writes_fresh_points(fields: int) -> None:
    """Every point the baseline writes is a new point (none overwrites another), at
    the concurrency asked; long enough to pass the 40 x 5,000 points after which the
    old baseline began overwriting its own bodies."""
    async with fresh_store(unique_db()) as store:
        figures = await raw_baseline(store.url, store.database, 2.0, fields=fields, concurrency=4)
        assert figures["fields_per_point"] == fields and figures["concurrency"] == 4
        assert figures["values_per_s"] == pytest.approx(figures["points_per_s"] * fields, rel=1e-3)
        rows = await store.query("SELECT count(temperature) FROM cold_room")
        stored = int(rows[0]["values"][0][1])
        assert stored == figures["points"] >= 5000
        if fields == 4:
            rows = await store.query("SELECT count(humidity) FROM cold_room")
            assert int(rows[0]["values"][0][1]) == stored
        else:
            rows = await store.query("SHOW FIELD KEYS FROM cold_room")
            assert [v[0] for v in rows[0]["values"]] == ["temperature"]


def test_ingest_profile_runs_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    """``dehong bench ingest-profile``: every point fed is accounted for, by stage."""
    import orjson

    from dehong.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["bench", "ingest-profile", "--store", "lines", "--sqlite", "--gateways", "3",
              "--rounds", "1", "--warmup", "0"])  # fmt: skip
    assert exit_.value.code == 0
    result = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bench"] == "ingest_profile" and result["relational"] == "sqlite"
    assert result["points"] == 3 * 10 * 60  # 3 gateways x 10 rooms x 60 readings, 1 round
    assert result["cpu_us_per_point"] > 0
    assert sum(result["stages_us_per_point"].values()) == pytest.approx(
        result["cpu_us_per_point"], rel=0.05
    )
