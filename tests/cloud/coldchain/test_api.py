"""The cold-chain API: alarms listed, read and acknowledged (audited, county-scoped,
refusals), and MKT of a device from the time series agreeing with the hand-computed
profiles. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.coldchain.mkt import read_csv
from cloud.db import utcnow
from cloud.devices.storage import Device
from cloud.timeseries import Point
from tests.cloud.coldchain_cases import alarm_of
from tests.support.api import HOME, OTHER, ApiEnv, api_env

DATA = Path(__file__).resolve().parents[2] / "data" / "mkt"
EXPECTED = json.loads((DATA / "expected.json").read_text())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def test_alarm_list_get_acknowledge(env: ApiEnv) -> None:
    home = await alarm_of(env, HOME)
    other = await alarm_of(env, OTHER)
    disp = await env.headers(Role.DISPATCHER, HOME, "disp-li")
    r = await env.client.get("/api/v1/coldchain/alarms?status=raised", headers=disp)
    assert [a["id"] for a in r.json()["items"]] == [home]
    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get("/api/v1/coldchain/alarms", headers=pref)
    assert {a["id"] for a in r.json()["items"]} == {home, other}
    r = await env.client.get(f"/api/v1/coldchain/alarms?county={OTHER}&limit=1", headers=pref)
    assert [a["id"] for a in r.json()["items"]] == [other]
    # refusals
    url = f"/api/v1/coldchain/alarms/{home}/acknowledge"
    r = await env.client.post(url, json={"comment": ""}, headers=disp)
    assert r.status_code == 422 and "comment" in r.text
    r = await env.client.post(url, json={}, headers=disp)
    assert r.status_code == 422 and "comment" in r.text
    r = await env.client.get("/api/v1/coldchain/alarms?status=gone", headers=disp)
    assert r.status_code == 422 and "status" in r.text
    r = await env.client.get("/api/v1/coldchain/alarms?since=2026-01-01T00:00:00", headers=disp)
    assert r.status_code == 422 and "time zone" in r.text
    display = await env.headers(Role.DISPLAY, HOME)
    r = await env.client.post(url, json={"comment": "x"}, headers=display)
    assert r.status_code == 403 and "coldchain:write" in r.text
    # acknowledge
    r = await env.client.post(url, json={"comment": "门没关好，已处理 door left open"},
                              headers=disp)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "user:disp-li"
    assert body["ack_comment"].startswith("门没关好")
    r = await env.client.post(url, json={"comment": "again"}, headers=disp)
    assert r.status_code == 409 and "acknowledged already" in r.text
    r = await env.client.get(f"/api/v1/coldchain/alarms/{home}", headers=disp)
    assert r.json()["status"] == "acknowledged"
    async with env.db.session() as s:
        actions = (await s.scalars(select(AuditEntry.action).where(
            AuditEntry.target == f"alarm:{home}"))).all()  # fmt: skip
    assert "coldchain.alarm.acknowledged" in actions


@pytest.mark.parametrize("name", ["two_levels", "mango_failure_gap", "coffee_day"])
async def test_device_mkt_agrees_with_hand_computed_profiles(env: ApiEnv, name: str) -> None:
    series = read_csv((DATA / f"{name}.csv").read_text())
    exp = EXPECTED[name]
    # the profile moved to two days ago: raw retention; MKT does not depend on the date
    shift = (int(time.time() * 1000) - 2 * 86_400_000) // 3_600_000 * 3_600_000 - series.ts_ms[0]
    dev = f"gw-m1.{name.replace('_', '-')}"
    async with env.db.transaction() as s:
        s.add(Device(id=dev, county=HOME, kind="cold_room", site="s", gateway_id="gw-m1",
                     metrics=["temp_c"], first_seen_at=utcnow(), last_seen_at=utcnow(),
                     last_reading_ms=0, readings=0))  # fmt: skip
    await env.tsdb.write([Point("cold_room", dev, HOME, "s", t + shift, {"temp_c": v})
                          for t, v in zip(series.ts_ms, series.values, strict=True)])  # fmt: skip
    start = datetime.fromtimestamp((series.ts_ms[0] + shift) / 1000, UTC)
    end = datetime.fromtimestamp((series.ts_ms[-1] + shift + exp["poll_s"] * 1000) / 1000, UTC)
    h = await env.headers(Role.DISPATCHER, HOME)
    r = await env.client.get(
        f"/api/v1/coldchain/devices/{dev}/mkt",
        params={"start": start.isoformat(), "end": end.isoformat(), "low": exp["low"],
                "high": exp["high"]},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert abs(out["mkt_c"] - exp["mkt_c"]) <= 0.01
    assert out["min_c"] == exp["min_c"] and out["max_c"] == exp["max_c"]
    assert abs(out["time_out_of_range_s"] - exp["time_out_of_range_s"]) < 0.01
    assert out["metric"] == "temp_c" and out["poll_interval_s"] == exp["poll_s"]


async def test_device_mkt_refusals(env: ApiEnv) -> None:
    h = await env.headers(Role.DISPATCHER, HOME)
    base = "/api/v1/coldchain/devices/gw-m1.room-1/mkt"
    cases = [
        ({"start": "2026-01-01T01:00:00Z", "end": "2026-01-01T00:00:00Z"}, 422, "after start"),
        ({"start": "2026-01-01T00:00:00", "end": "2026-01-01T01:00:00Z"}, 422, "time zone"),
        ({"start": "2025-01-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}, 422, "400 days"),
        ({"start": "yesterday", "end": "2026-01-01T01:00:00Z"}, 422, "start"),
        ({"end": "2026-01-01T01:00:00Z"}, 422, "start"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "low": 9,
          "high": 2}, 422, "above high"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z",
          "metric": "bad metric!"}, 422, "metric"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "low": "nan"}, 422,
         "query.low: nan is not a temperature"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "poll_s": 0}, 422,
         "poll_s"),
    ]  # fmt: skip
    for params, status, why in cases:
        r = await env.client.get(base, params=params, headers=h)
        assert r.status_code == status and why in r.text, (params, r.status_code, r.text)
    r = await env.client.get(
        "/api/v1/coldchain/devices/no-such.device/mkt",
        params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
        headers=h,
    )
    assert r.status_code == 404
    r = await env.client.get("/api/v1/coldchain/excursions?cursor=nope", headers=h)
    assert r.status_code == 422 and r.json()["field"] == "query.cursor"
