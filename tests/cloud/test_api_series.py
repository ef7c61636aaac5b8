"""The series API over the query layer: several devices in the same windows, the
resolution used, Beijing days, and InfluxQL injection attempts through the API
(against the real InfluxDB as well as SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from tests.support import influx
from tests.support.api import HOME, ApiEnv, api_env

HOSTILE_DEVICES = [
    "gw-m1.room-1' OR device =~ /.*/ --",
    'gw-m1.room-1" ; DROP DATABASE "x',
    "x') ; SHOW DATABASES",
]


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.influx)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        if request.param == "influx":
            async with influx.fresh_store() as store:
                # the same seed, on the real InfluxDB
                from tests.support.api import seed_timeseries

                await seed_timeseries(store, raw=False)
                e.app.state.tsdb = store
                yield e
        else:
            yield e


async def test_multi_device_windows_and_injection(env: ApiEnv) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    params = {
        "metric": "temp_c",
        "device": ["gw-m1.room-1", "gw-l1.room-1"],
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T01:00:00Z",
        "every": "30m",
    }
    r = await env.client.get("/api/v1/series", params=params, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resolution"] == "1m"  # older than raw retention: the roll-ups answer
    assert [s["device"] for s in body["series"]] == ["gw-m1.room-1", "gw-l1.room-1"]
    for s in body["series"]:
        assert [b["count"] for b in s["buckets"]] == [30, 30]
        assert s["buckets"][0]["min"] == 4.0 and s["buckets"][0]["max"] == 6.0

    for evil in HOSTILE_DEVICES:
        r = await env.client.get("/api/v1/series", params={**params, "device": [evil]}, headers=h)
        assert r.status_code == 404, r.text
        r = await env.client.get(
            f"/api/v1/devices/{evil}/series", params={"metric": "temp_c"}, headers=h
        )
        assert r.status_code == 404, r.text
    r = await env.client.get(
        "/api/v1/series", params={**params, "metric": 'temp_c") FROM x; DROP'}, headers=h
    )
    assert r.status_code == 422 and r.json()["field"] == "query.metric"
    # the data is all still there
    r = await env.client.get("/api/v1/series", params=params, headers=h)
    assert sum(b["count"] for s in r.json()["series"] for b in s["buckets"]) == 120


async def test_day_windows_start_at_beijing_midnight(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get(
        "/api/v1/devices/gw-m1.room-1/series",
        params={
            "metric": "temp_c",
            "start": "2025-12-31T00:00:00+08:00",
            "end": "2026-01-03T00:00:00+08:00",
            "every": "1d",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    (day,) = r.json()["buckets"]
    assert day["ts"] == "2025-12-31T16:00:00Z"  # 2026-01-01 00:00 in Beijing
    assert day["count"] == 60
