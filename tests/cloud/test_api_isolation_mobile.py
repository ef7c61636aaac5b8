"""County isolation for devices without a gateway prefix (issue 10, item 11).

BLE tags and vehicles keep their own ids whichever gateway hears them. The table
below runs every device read of the API, as a county admin of Mangshi (HOME), over
tags that belong to Longchuan (OTHER):

- a tag heard first in Mangshi and now in Longchuan (it was Mangshi's forever);
- a tag only Longchuan heard;
- a vehicle registered to a Longchuan carrier, heard only by a Mangshi gateway.

Each is 404 to Mangshi; Longchuan sees each, with only the readings stored under its
county. ``CATALOG_CASES`` holds the isolation cases of the catalog routes, which
tests/cloud/test_api_isolation.py runs in its table of every route.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.auth.principal import Role
from cloud.ingest.pipeline import Ingest
from protocol.codec import encode
from protocol.messages import AssetKind, Series
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.data import batch, now_ms

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]

MOVED = "AA:00:00:00:00:01"  # heard in Mangshi first, then in Longchuan
LONGCHUAN_TAG = "AA:00:00:00:00:02"  # heard in Longchuan only
TRUCK = "YUN-N0001"  # a Longchuan carrier's truck, heard by a Mangshi gateway
T = now_ms() - 30 * 60_000


def uscc(county: str, n: int) -> str:
    from cloud.catalog.uscc import check_char

    body = f"91{county}MA6{n:06d}"
    return body + check_char(body)


def _not_found(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert r.json()["detail"].endswith("not found"), r.text


@dataclass
class Mobile:
    env: ApiEnv
    other_org: int


async def hear(ingest: Ingest, gw: str, county: str, seq: int, series: Series) -> None:
    await ingest.handle(f"dh/v1/{county}/{gw}/data", encode(batch(gw, seq, series)))
    await ingest.drained()


def tag(device: str, t0: int, temps: list[float], kind: AssetKind = AssetKind.BLE_TAG) -> Series:
    return Series(device=device, kind=kind, t0=t0, n=len(temps), values={"temperature": temps})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def mobile(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mobile]:
    async with api_env(request.param, tmp_path) as env:

        async def publish(topic: str, payload: bytes) -> None:
            return None

        ingest = Ingest(env.db, env.tsdb, publish, linger_s=0.01)
        writer = asyncio.create_task(ingest.run_writer())
        try:
            # Longchuan registers its carrier's truck through the API
            lc = await env.headers(Role.COUNTY_ADMIN, OTHER)
            r = await env.client.post(
                "/api/v1/orgs",
                json={
                    "kind": "carrier",
                    "name": "陇川冷链",
                    "uscc": uscc(OTHER, 1),
                    "county": OTHER,
                },
                headers=lc,
            )
            assert r.status_code == 201, r.text
            org = r.json()["id"]
            r = await env.client.put(
                f"/api/v1/mobile-devices/{TRUCK}",
                json={"kind": "vehicle", "org_id": org},
                headers=lc,
            )
            assert r.status_code == 200, r.text
            await hear(ingest, "gw-m1", HOME, 1, tag(MOVED, T, [5.0]))
            await hear(ingest, "gw-l1", OTHER, 1, tag(MOVED, T + 60_000, [9.0]))
            await hear(ingest, "gw-l1", OTHER, 2, tag(LONGCHUAN_TAG, T, [3.0]))
            await hear(ingest, "gw-m1", HOME, 2, tag(TRUCK, T, [4.0, 4.5], AssetKind.VEHICLE))
            yield Mobile(env, org)
        finally:
            writer.cancel()


def _series_params(device: str) -> dict[str, str]:
    from datetime import UTC, datetime

    end = datetime.fromtimestamp((T + 3_600_000) / 1000, UTC).isoformat()
    start = datetime.fromtimestamp((T - 3_600_000) / 1000, UTC).isoformat()
    return {"metric": "temperature", "start": start, "end": end, "every": "1h"}


async def test_county_admin_gets_404_for_every_other_countys_mobile_device(
    mobile: Mobile,
) -> None:
    env = mobile.env
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    ids = (MOVED, LONGCHUAN_TAG, TRUCK)
    reads = {
        "GET /api/v1/devices/{device_id}": lambda d: env.client.get(
            f"/api/v1/devices/{d}", headers=h
        ),
        "GET /api/v1/devices/{device_id}/latest": lambda d: env.client.get(
            f"/api/v1/devices/{d}/latest", headers=h
        ),
        "GET /api/v1/devices/{device_id}/series": lambda d: env.client.get(
            f"/api/v1/devices/{d}/series", params=_series_params(d), headers=h
        ),
        "GET /api/v1/series": lambda d: env.client.get(
            "/api/v1/series", params={**_series_params(d), "device": [d]}, headers=h
        ),
        "GET /api/v1/mobile-devices/{device_id}": lambda d: env.client.get(
            f"/api/v1/mobile-devices/{d}", headers=h
        ),
    }
    for route, read in reads.items():
        for device in ids:
            try:
                _not_found(await read(device))
            except AssertionError as exc:
                raise AssertionError(f"{route} of {device}: {exc}") from exc
    r = await env.client.get("/api/v1/devices", headers=h)
    assert not {d["id"] for d in r.json()} & set(ids)
    r = await env.client.get("/api/v1/mobile-devices", headers=h)
    assert r.status_code == 200 and r.json()["items"] == []


async def test_the_county_hearing_a_tag_now_sees_it_with_its_own_readings_only(
    mobile: Mobile,
) -> None:
    env = mobile.env
    h = await env.headers(Role.COUNTY_ADMIN, OTHER)
    for device in (MOVED, LONGCHUAN_TAG, TRUCK):
        r = await env.client.get(f"/api/v1/devices/{device}", headers=h)
        assert r.status_code == 200 and r.json()["county"] == OTHER, (device, r.text)
    # Longchuan sees the reading its gateway heard, never Mangshi's earlier one
    r = await env.client.get(f"/api/v1/devices/{MOVED}/latest", headers=h)
    assert [(v["value"], v["ts_ms"]) for v in r.json()["values"]] == [(9.0, T + 60_000)]
    r = await env.client.get(
        f"/api/v1/devices/{MOVED}/series", params=_series_params(MOVED), headers=h
    )
    assert sum(b["count"] for b in r.json()["buckets"]) == 1
    # the truck is Longchuan's though a Mangshi gateway heard it
    r = await env.client.get(f"/api/v1/devices/{TRUCK}/latest", headers=h)
    assert [v["value"] for v in r.json()["values"]] == [4.5]
    r = await env.client.get(
        "/api/v1/series", params={**_series_params(TRUCK), "device": [TRUCK, MOVED]}, headers=h
    )
    assert r.status_code == 200
    assert {s["device"]: sum(b["count"] for b in s["buckets"]) for s in r.json()["series"]} == {
        TRUCK: 2,
        MOVED: 1,
    }


async def test_prefecture_admin_sees_every_countys_readings_of_a_tag(mobile: Mobile) -> None:
    env = mobile.env
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get(
        f"/api/v1/devices/{MOVED}/series", params=_series_params(MOVED), headers=h
    )
    assert sum(b["count"] for b in r.json()["buckets"]) == 2


async def test_a_county_cannot_take_another_countys_registered_device(mobile: Mobile) -> None:
    env = mobile.env
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/orgs",
        json={"kind": "enterprise", "name": "芒市咖啡", "uscc": uscc(HOME, 2), "county": HOME},
        headers=h,
    )
    assert r.status_code == 201, r.text
    home_org = r.json()["id"]
    r = await env.client.put(
        f"/api/v1/mobile-devices/{TRUCK}", json={"kind": "vehicle", "org_id": home_org}, headers=h
    )
    assert r.status_code == 409 and r.json()["field"] == "path.device_id", r.text
    lc = await env.headers(Role.COUNTY_ADMIN, OTHER)
    r = await env.client.get(f"/api/v1/mobile-devices/{TRUCK}", headers=lc)
    assert r.json()["org_id"] == mobile.other_org and r.json()["county"] == OTHER
    # a prefecture admin may move it; the device moves with it
    p = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.put(
        f"/api/v1/mobile-devices/{TRUCK}", json={"kind": "vehicle", "org_id": home_org}, headers=p
    )
    assert r.status_code == 200 and r.json()["county"] == HOME
    assert (await env.client.get(f"/api/v1/devices/{TRUCK}", headers=h)).status_code == 200
    _not_found(await env.client.get(f"/api/v1/devices/{TRUCK}", headers=lc))


# ------------------------------------------------- catalog routes in the isolation table


async def _other_org(env: ApiEnv) -> int:
    """An organisation of OTHER (made once per database)."""
    from cloud.catalog.storage import Organisation
    from cloud.db import utcnow

    async with env.db.transaction() as s:
        found = await s.scalar(select(Organisation.id).where(Organisation.county == OTHER))
        if found is not None:
            return int(found)
        org = Organisation(
            kind="cooperative", name="Longchuan co-op", uscc=uscc(OTHER, 99), county=OTHER,
            created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(org)
        await s.flush()
        return org.id


async def orgs_list(env: ApiEnv, h: Headers) -> None:
    await _other_org(env)
    r = await env.client.get("/api/v1/orgs", headers=h)
    assert r.status_code == 200 and all(o["county"] == HOME for o in r.json()["items"]), r.text
    r = await env.client.get("/api/v1/orgs", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def org_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get(f"/api/v1/orgs/{await _other_org(env)}", headers=h))
    _not_found(await env.client.get("/api/v1/orgs/999999", headers=h))


async def org_create(env: ApiEnv, h: Headers) -> None:
    r = await env.client.post(
        "/api/v1/orgs",
        json={"kind": "carrier", "name": "Sneaky", "uscc": uscc(OTHER, 7), "county": OTHER},
        headers=h,
    )
    assert r.status_code == 403, r.text


async def mobile_devices_list(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get("/api/v1/mobile-devices", headers=h)
    assert r.status_code == 200 and all(d["county"] == HOME for d in r.json()["items"])
    r = await env.client.get("/api/v1/mobile-devices", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def mobile_device_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get("/api/v1/mobile-devices/AA:00:00:00:00:09", headers=h))


async def mobile_device_register(env: ApiEnv, h: Headers) -> None:
    # registering a tag to another county's organisation: that organisation is not found
    org = await _other_org(env)
    r = await env.client.put(
        "/api/v1/mobile-devices/AA:00:00:00:00:09",
        json={"kind": "ble_tag", "org_id": org},
        headers=h,
    )
    _not_found(r)
    assert r.json()["field"] == "body.org_id"


CATALOG_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/orgs"): orgs_list,
    ("GET", "/api/v1/orgs/{org_id}"): org_get,
    ("POST", "/api/v1/orgs"): org_create,
    ("GET", "/api/v1/mobile-devices"): mobile_devices_list,
    ("GET", "/api/v1/mobile-devices/{device_id}"): mobile_device_get,
    ("PUT", "/api/v1/mobile-devices/{device_id}"): mobile_device_register,
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def test_catalog_routes_keep_counties_apart(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    for (method, path), case in CATALOG_CASES.items():
        try:
            await case(env, h)
        except AssertionError as exc:
            raise AssertionError(f"{method} {path}: {exc}") from exc
