"""Registry reads, latest values, series validation, provisioning through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.devices.storage import Gateway
from cloud.provisioning.mosquitto import verify_password
from tests.support.api import HOME, OTHER, T0, ApiEnv, api_env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


@pytest.fixture
async def sqlite_env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_gateway_status(env: ApiEnv) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    async with env.db.transaction() as s:
        gw = await s.get(Gateway, "gw-l1")
        assert gw is not None
        gw.death_session = 3  # the death of the current session arrived
    r = await env.client.get("/api/v1/gateways", headers=h)
    by_id = {g["id"]: g for g in r.json()}
    assert by_id["gw-m1"]["online"] is True and by_id["gw-m1"]["status"] == "online"
    assert by_id["gw-l1"]["online"] is False and by_id["gw-l1"]["status"] == "offline"
    assert by_id["gw-m1"]["versions"] == {"agent": "0.1.0"}
    r = await env.client.post(
        "/api/v1/gateways", json={"county": HOME, "name": "New one", "site": "wh-1"}, headers=h
    )
    assert r.json()["gateway"]["status"] == "never_seen"
    r = await env.client.post("/api/v1/gateways/gw-m1/revoke", headers=h)
    assert r.json()["status"] == "revoked" and r.json()["online"] is False


async def test_latest_values(env: ApiEnv) -> None:
    h = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.get("/api/v1/devices/gw-m1.room-1/latest", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["device"] == "gw-m1.room-1" and body["kind"] == "cold_room"
    values = {v["metric"]: v for v in body["values"]}
    assert set(values) == {"rh", "temp_c"}
    assert values["temp_c"]["ts_ms"] == T0 + 59 * 60_000
    assert values["temp_c"]["ts"] == "2026-01-01T00:59:00Z"
    assert values["temp_c"]["value"] == 4.0 + 59 % 3
    r = await env.client.get("/api/v1/devices/nope/latest", headers=h)
    assert r.status_code == 404


async def test_series_buckets(env: ApiEnv) -> None:
    h = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.get(
        "/api/v1/devices/gw-m1.room-1/series",
        params={
            "metric": "temp_c",
            "start": "2026-01-01T08:00:00+08:00",
            "end": "2026-01-01T01:00:00Z",
            "every": "10m",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["every_ms"] == 600_000
    assert body["start"] == "2026-01-01T00:00:00Z"
    assert len(body["buckets"]) == 6
    first = body["buckets"][0]
    assert first["ts"] == "2026-01-01T00:00:00Z" and first["count"] == 10
    assert first["min"] == 4.0 and first["max"] == 6.0


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"metric": "Temp"}, "query.metric", "invalid metric"),
        ({"metric": "temp__q"}, "query.metric", "without '__'"),
        ({"metric": "temp_c", "every": "5 minutes"}, "query.every", "e.g. 1m"),
        ({"metric": "temp_c", "every": "0m"}, "query.every", "positive"),
        ({"metric": "temp_c", "every": "1s"}, "query.every", "at most 10000"),
        (
            {"metric": "temp_c", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "query.end",
            "after start",
        ),
        ({"metric": "temp_c", "start": "2026-01-01T00:00:00"}, "query.start", "time zone"),
        ({"metric": "temp_c", "start": "yesterday"}, "query.start", "datetime"),
        ({}, "query.metric", "required"),
    ],
)
async def test_series_validation(
    sqlite_env: ApiEnv, params: dict[str, str], field: str, words: str
) -> None:
    h = await sqlite_env.headers(Role.OPERATOR, HOME)
    r = await sqlite_env.client.get("/api/v1/devices/gw-m1.room-1/series", params=params, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert words.lower() in r.json()["detail"].lower()


async def test_series_default_window(sqlite_env: ApiEnv) -> None:
    h = await sqlite_env.headers(Role.OPERATOR, HOME)
    r = await sqlite_env.client.get(
        "/api/v1/devices/gw-m1.room-1/series", params={"metric": "temp_c"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["every"] == "5m"  # 24 h in at most ~1000 windows


async def test_provision_gateway_via_api(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, OTHER, "lc-admin")
    r = await env.client.post(
        "/api/v1/gateways",
        json={"county": OTHER, "name": "Longchuan Mango Co-op", "site": "pack-house"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["gateway"]["id"] == "longchuan-mango-co-op"
    assert body["mqtt"]["username"] == "longchuan-mango-co-op"
    assert body["mqtt"]["topic_prefix"] == f"dh/v1/{OTHER}/longchuan-mango-co-op/"
    password = body["mqtt"]["password"]
    passwd = (env.settings.mosquitto_dir / "passwd").read_text()
    line = next(x for x in passwd.splitlines() if x.startswith("longchuan-mango-co-op:"))
    assert verify_password(password, line.split(":", 1)[1])
    assert password not in passwd
    acl = (env.settings.mosquitto_dir / "acl").read_text()
    assert f"topic write dh/v1/{OTHER}/longchuan-mango-co-op/data" in acl
    # same name again: a derived id gets a suffix; an explicit taken id is 409
    r = await env.client.post(
        "/api/v1/gateways", json={"county": OTHER, "name": "Longchuan Mango Co-op"}, headers=h
    )
    assert r.json()["gateway"]["id"] == "longchuan-mango-co-op-2"
    r = await env.client.post(
        "/api/v1/gateways", json={"county": OTHER, "name": "x", "id": "gw-l1"}, headers=h
    )
    assert r.status_code == 409 and r.json()["field"] == "body.id"
    r = await env.client.post(
        "/api/v1/gateways", json={"county": OTHER, "name": "x", "id": "Bad_Id"}, headers=h
    )
    assert r.status_code == 422 and r.json()["field"] == "body.id"
    r = await env.client.post("/api/v1/gateways", json={"county": "533100", "name": "x"}, headers=h)
    assert r.status_code == 403
    async with env.db.session() as s:
        entries = list(
            (
                await s.execute(
                    select(AuditEntry).where(AuditEntry.action == "gateway.provisioned")
                )
            ).scalars()
        )
    assert [e.actor for e in entries] == ["user:lc-admin", "user:lc-admin"]
    assert all(password not in str(e.detail) for e in entries)


async def test_time_series_outage_is_503_and_healthz_degraded(sqlite_env: ApiEnv) -> None:
    h = await sqlite_env.headers(Role.OPERATOR, HOME)
    await sqlite_env.tsdb.close()
    r = await sqlite_env.client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "degraded", "database": "ok", "timeseries": "error"}
    r = await sqlite_env.client.get("/api/v1/devices/gw-m1.room-1/latest", headers=h)
    assert r.status_code == 503 and "retry" in r.json()["detail"]
    await sqlite_env.tsdb.open()
