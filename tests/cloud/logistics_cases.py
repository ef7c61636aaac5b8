"""County isolation and roles x endpoints for the logistics routes (fleet, supply,
trips, waybills): ``LOGISTICS_CASES`` (tests/cloud/test_api_isolation.py: every role
of HOME gets 404 for OTHER's records, lists leave them out, nothing is stored) and
``LOGISTICS_REQUESTS`` (tests/cloud/test_api_roles.py: one request per route on HOME's
records)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.audit.storage import AuditEntry
from cloud.auth.policy import Role
from cloud.logistics.fleet.storage import ColdStoreInfo, Driver, VehicleInfo
from cloud.logistics.supply.storage import SupplyPost
from cloud.logistics.waybills.storage import Trip, Waybill, WaybillEvent
from tests.cloud.logistics_world import (
    API,
    World,
    build,
    headers,
    move,
    trip,
    waybill,
    waybill_body,
)
from tests.support.api import HOME, OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
TABLES = (VehicleInfo, Driver, ColdStoreInfo, SupplyPost, Trip, Waybill, WaybillEvent)


async def _world(env: ApiEnv, county: str) -> tuple[World, dict[str, int]]:
    """A world of ``county`` with a supply post, a trip and a waybill on it (made once
    per API under test)."""
    cache: dict[str, Any] = env.__dict__.setdefault("_logistics_worlds", {})
    if county not in cache:
        w = await build(env, county)
        t = await trip(env, w)
        wb = await waybill(env, w, receiver_phone="13900001111")
        r = await move(env, w.admin, wb, "assigned", trip_id=t)
        assert r.status_code == 201, r.text
        body = {"org_id": w.coop, "description": "lychee", "quantity_kg": 100,
                "temp_class": "chilled", "ready_from": "2026-12-05", "ready_until": "2026-12-06",
                "origin_id": w.warehouse}  # fmt: skip
        r = await env.client.post(f"{API}/supply", json=body, headers=w.admin)
        assert r.status_code == 201, r.text
        r2 = await env.client.put(f"{API}/cold-stores/{w.cold_room}", headers=w.admin,
                                  json={"capacity_kg": 5000, "temp_class": "chilled"})  # fmt: skip
        assert r2.status_code == 200, r2.text
        cache[county] = (w, {"trip": t, "waybill": wb, "supply": r.json()["id"]})
    return cache[county]  # type: ignore[no-any-return]


async def _counts(env: ApiEnv) -> list[int]:
    async with env.db.session() as s:
        return [int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES]


def _not_found(r: httpx.Response, field: str | None = None) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert r.json()["detail"].endswith("not found"), r.text
    if field is not None:
        assert r.json()["field"] == field, r.text


def _read(path: Callable[[World, dict[str, int]], str]) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        w, ids = await _world(env, OTHER)
        _not_found(await env.client.get(path(w, ids), headers=h))

    return case


def _list(path: str, key: Callable[[World, dict[str, int]], object], field: str = "id") -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        w, ids = await _world(env, OTHER)
        r = await env.client.get(f"{API}/{path}", headers=h)
        assert r.status_code == 200, r.text
        assert key(w, ids) not in [x[field] for x in r.json()], r.text
        r = await env.client.get(f"{API}/{path}", params={"county": OTHER}, headers=h)
        assert r.status_code == 403, r.text

    return case


async def _capacity(env: ApiEnv, h: Headers) -> None:
    w, _ = await _world(env, OTHER)
    r = await env.client.get(f"{API}/capacity", params={"start": "2026-12-05"}, headers=h)
    assert r.status_code == 200, r.text
    assert w.vehicle not in r.text


def _write(method: str, path: Callable[[World, dict[str, int]], str],
           body: Callable[[World, dict[str, int]], dict[str, Any] | None], field: str | None) -> Case:  # fmt: skip
    async def case(env: ApiEnv, h: Headers) -> None:
        w, ids = await _world(env, OTHER)
        before = await _counts(env)
        r = await env.client.request(method, path(w, ids), json=body(w, ids), headers=h)
        _not_found(r, field)
        assert await _counts(env) == before, "nothing stored"

    return case


def _deliver_body(w: World, ids: dict[str, int]) -> dict[str, Any]:
    return {"receiver_name": "X", "lat": 24.4, "lon": 98.5, "fix_at": "2026-12-05T10:00:00Z",
            "signature_png": "iVBORw0KGgo="}  # fmt: skip


V = "/api/v1/logistics"
LOGISTICS_CASES: dict[tuple[str, str], Case] = {
    ("PUT", f"{V}/vehicles/{{device_id}}"): _write(
        "PUT",
        lambda w, i: f"{API}/vehicles/{w.vehicle}",
        lambda w, i: {
            "plate": "云N99999",
            "vehicle_type": "x",
            "refrigerated": False,
            "capacity_kg": 1,
            "capacity_m3": 1,
        },
        "path.device_id",
    ),
    ("GET", f"{V}/vehicles"): _list("vehicles", lambda w, i: w.vehicle, "device_id"),
    ("GET", f"{V}/vehicles/{{device_id}}"): _read(lambda w, i: f"{API}/vehicles/{w.vehicle}"),
    ("POST", f"{V}/drivers"): _write(
        "POST",
        lambda w, i: f"{API}/drivers",
        lambda w, i: {"carrier_id": w.carrier, "name": "X", "phone": "13811112222"},
        "body.carrier_id",
    ),
    ("GET", f"{V}/drivers"): _list("drivers", lambda w, i: w.driver),
    ("GET", f"{V}/drivers/{{driver_id}}"): _read(lambda w, i: f"{API}/drivers/{w.driver}"),
    ("PUT", f"{V}/cold-stores/{{location_id}}"): _write(
        "PUT",
        lambda w, i: f"{API}/cold-stores/{w.cold_room}",
        lambda w, i: {"capacity_kg": 10, "temp_class": "chilled"},
        "path.location_id",
    ),
    ("GET", f"{V}/cold-stores"): _list("cold-stores", lambda w, i: w.cold_room, "location_id"),
    ("POST", f"{V}/supply"): _write(
        "POST",
        lambda w, i: f"{API}/supply",
        lambda w, i: {
            "org_id": w.coop,
            "description": "x",
            "quantity_kg": 1,
            "temp_class": "chilled",
            "ready_from": "2026-12-05",
            "ready_until": "2026-12-05",
            "origin_id": w.warehouse,
        },
        "body.org_id",
    ),
    ("GET", f"{V}/supply"): _list("supply", lambda w, i: i["supply"]),
    ("GET", f"{V}/supply/{{post_id}}/matches"): _read(
        lambda w, i: f"{API}/supply/{i['supply']}/matches"
    ),
    ("GET", f"{V}/capacity"): _capacity,
    ("POST", f"{V}/trips"): _write(
        "POST",
        lambda w, i: f"{API}/trips",
        lambda w, i: {"vehicle_id": w.vehicle, "day": "2026-12-20"},
        "body.vehicle_id",
    ),
    ("GET", f"{V}/trips"): _list("trips", lambda w, i: i["trip"]),
    ("GET", f"{V}/trips/{{trip_id}}"): _read(lambda w, i: f"{API}/trips/{i['trip']}"),
    ("POST", f"{V}/waybills"): _write(
        "POST", lambda w, i: f"{API}/waybills", lambda w, i: waybill_body(w), "body.shipper_id"
    ),
    ("GET", f"{V}/waybills"): _list("waybills", lambda w, i: i["waybill"]),
    ("GET", f"{V}/waybills/{{waybill_id}}"): _read(lambda w, i: f"{API}/waybills/{i['waybill']}"),
    ("POST", f"{V}/waybills/{{waybill_id}}/transitions"): _write(
        "POST",
        lambda w, i: f"{API}/waybills/{i['waybill']}/transitions",
        lambda w, i: {"to": "loaded"},
        None,
    ),
    ("POST", f"{V}/waybills/{{waybill_id}}/deliver"): _write(
        "POST", lambda w, i: f"{API}/waybills/{i['waybill']}/deliver", _deliver_body, None
    ),
    ("POST", f"{V}/waybills/{{waybill_id}}/code"): _write(
        "POST", lambda w, i: f"{API}/waybills/{i['waybill']}/code", lambda w, i: None, None
    ),
    ("GET", f"{V}/waybills/{{waybill_id}}/pod/{{part}}"): _read(
        lambda w, i: f"{API}/waybills/{i['waybill']}/pod/photo"
    ),
    ("GET", f"{V}/waybills/{{waybill_id}}/pdf"): _read(
        lambda w, i: f"{API}/waybills/{i['waybill']}/pdf"
    ),
}


# ------------------------------------------------------------------- roles x endpoints


def _get(path: Callable[[World, dict[str, int]], str]) -> Call:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        w, ids = await _world(env, HOME)
        return await env.client.get(path(w, ids), headers=h)

    return call


def _send(method: str, path: Callable[[World, dict[str, int]], str],
          body: Callable[[World, dict[str, int]], dict[str, Any] | None]) -> Call:  # fmt: skip
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        w, ids = await _world(env, HOME)
        return await env.client.request(method, path(w, ids), json=body(w, ids), headers=h)

    return call


LOGISTICS_REQUESTS: dict[tuple[str, str], Call] = {
    ("PUT", f"{V}/vehicles/{{device_id}}"): _send(
        "PUT",
        lambda w, i: f"{API}/vehicles/{w.vehicle}",
        lambda w, i: {
            "plate": w.plate,
            "vehicle_type": "4.2m 冷藏车",
            "refrigerated": True,
            "capacity_kg": 3000,
            "capacity_m3": 16,
            "compartments": w.compartments,
        },
    ),
    ("GET", f"{V}/vehicles"): _get(lambda w, i: f"{API}/vehicles"),
    ("GET", f"{V}/vehicles/{{device_id}}"): _get(lambda w, i: f"{API}/vehicles/{w.vehicle}"),
    ("POST", f"{V}/drivers"): _send(
        "POST",
        lambda w, i: f"{API}/drivers",
        lambda w, i: {
            "carrier_id": w.carrier,
            "name": "X",
            "phone": f"139{__import__('secrets').randbelow(10**8):08d}",
        },
    ),
    ("GET", f"{V}/drivers"): _get(lambda w, i: f"{API}/drivers"),
    ("GET", f"{V}/drivers/{{driver_id}}"): _get(lambda w, i: f"{API}/drivers/{w.driver}"),
    ("PUT", f"{V}/cold-stores/{{location_id}}"): _send(
        "PUT",
        lambda w, i: f"{API}/cold-stores/{w.cold_room}",
        lambda w, i: {"capacity_kg": 5000, "temp_class": "chilled"},
    ),
    ("GET", f"{V}/cold-stores"): _get(lambda w, i: f"{API}/cold-stores"),
    ("POST", f"{V}/supply"): _send(
        "POST",
        lambda w, i: f"{API}/supply",
        lambda w, i: {
            "org_id": w.coop,
            "description": "x",
            "quantity_kg": 1,
            "temp_class": "chilled",
            "ready_from": "2026-12-05",
            "ready_until": "2026-12-05",
            "origin_id": w.warehouse,
        },
    ),
    ("GET", f"{V}/supply"): _get(lambda w, i: f"{API}/supply"),
    ("GET", f"{V}/supply/{{post_id}}/matches"): _get(
        lambda w, i: f"{API}/supply/{i['supply']}/matches"
    ),
    ("GET", f"{V}/capacity"): _get(lambda w, i: f"{API}/capacity"),
    ("POST", f"{V}/trips"): _send(
        "POST",
        lambda w, i: f"{API}/trips",
        lambda w, i: {
            "vehicle_id": w.vehicle,
            "day": f"2027-01-{__import__('secrets').randbelow(28) + 1:02d}",
        },
    ),
    ("GET", f"{V}/trips"): _get(lambda w, i: f"{API}/trips"),
    ("GET", f"{V}/trips/{{trip_id}}"): _get(lambda w, i: f"{API}/trips/{i['trip']}"),
    ("POST", f"{V}/waybills"): _send(
        "POST", lambda w, i: f"{API}/waybills", lambda w, i: waybill_body(w)
    ),
    ("GET", f"{V}/waybills"): _get(lambda w, i: f"{API}/waybills"),
    ("GET", f"{V}/waybills/{{waybill_id}}"): _get(lambda w, i: f"{API}/waybills/{i['waybill']}"),
    ("POST", f"{V}/waybills/{{waybill_id}}/transitions"): _send(
        "POST",
        lambda w, i: f"{API}/waybills/{i['waybill']}/transitions",
        lambda w, i: {"to": "arrived"},
    ),
    ("POST", f"{V}/waybills/{{waybill_id}}/deliver"): _send(
        "POST", lambda w, i: f"{API}/waybills/{i['waybill']}/deliver", _deliver_body
    ),
    ("POST", f"{V}/waybills/{{waybill_id}}/code"): _send(
        "POST", lambda w, i: f"{API}/waybills/{i['waybill']}/code", lambda w, i: None
    ),
    ("GET", f"{V}/waybills/{{waybill_id}}/pod/{{part}}"): _get(
        lambda w, i: f"{API}/waybills/{i['waybill']}/pod/photo"
    ),
    ("GET", f"{V}/waybills/{{waybill_id}}/pdf"): _get(
        lambda w, i: f"{API}/waybills/{i['waybill']}/pdf"
    ),
    ("GET", "/m/driver"): lambda e, h: e.client.get("/m/driver", headers=h),
    ("GET", "/m/driver/sw.js"): lambda e, h: e.client.get("/m/driver/sw.js", headers=h),
}

__all__ = ["LOGISTICS_CASES", "LOGISTICS_REQUESTS", "AuditEntry", "Role", "headers"]


async def seed_paged(env: ApiEnv, per_county: int = 5) -> None:
    """``per_county`` vehicles, drivers, cold stores, supply posts, trips and waybills in
    HOME and in OTHER (tests/cloud/test_pagination.py walks them in pages of 2)."""
    for county in (HOME, OTHER):
        for _ in range(per_county):
            w = await build(env, county)
            await trip(env, w)
            await waybill(env, w)
            body = {"org_id": w.coop, "description": "paged", "quantity_kg": 10,
                    "temp_class": "ambient", "ready_from": "2026-12-05",
                    "ready_until": "2026-12-05", "origin_id": w.warehouse}  # fmt: skip
            r = await env.client.post(f"{API}/supply", json=body, headers=w.admin)
            assert r.status_code == 201, r.text
            r = await env.client.put(f"{API}/cold-stores/{w.cold_room}", headers=w.admin,
                                     json={"capacity_kg": 100, "temp_class": "cool"})  # fmt: skip
            assert r.status_code == 200, r.text
