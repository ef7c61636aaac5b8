"""A small logistics world in one county of an API under test: a carrier with a
refrigerated vehicle (two compartments), a driver (with a driver login), a
cooperative's lot (the trace tests' organisation), a warehouse, a customer site and a
cold room. Each call makes a new world (random ids), so tests never share one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cloud.auth.policy import Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.catalog.storage import Location, MobileDevice, Organisation
from cloud.db import utcnow
from tests.cloud.test_api_isolation_mobile import uscc
from tests.cloud.trace_cases import G, _lot, _org
from tests.support.api import ApiEnv
from tests.support.epcis import gln

Headers = dict[str, str]
API = "/api/v1/logistics"


#: The world's catalog locations: two compartments, origin, two drops, a cold room.
PLACES = (
    ("vehicle_compartment", "冷藏车厢 前 front"),
    ("vehicle_compartment", "冷藏车厢 后 rear"),
    ("warehouse", "芒市冷链集配中心"),
    ("customer_site", "瑞丽口岸果品仓"),
    ("customer_site", "陇川县城超市"),
    ("cold_room", "芒市 1 号冷库"),
)


@dataclass
class World:
    county: str
    carrier: int
    coop: int
    vehicle: str
    plate: str
    compartments: list[int]
    warehouse: int
    customer: int
    customer2: int
    cold_room: int
    lot: str
    driver_user: str
    driver_headers: Headers
    carrier_headers: Headers
    admin: Headers
    driver: int = 0


async def _user(
    env: ApiEnv, role: Role, county: str, org: int | None, name: str | None = None
) -> tuple[str, Headers]:
    import tests.support.api as api

    name = name or f"{role.value[:4]}-{secrets.token_hex(4)}"
    async with env.db.transaction() as s:
        user = User(
            username=name, password_hash=api._HASH, role=role.value, county=county,
            display_name="", disabled=False, created_at=utcnow(), token_version=0,
            org_id=None if org is None else str(org),
        )  # fmt: skip
        s.add(user)
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return name, {"Authorization": f"Bearer {token}"}


async def headers(env: ApiEnv, role: Role, county: str, org: int | None = None) -> Headers:
    return (await _user(env, role, county, org))[1]


async def build(env: ApiEnv, county: str, *, driver: bool = True) -> World:
    n = secrets.randbelow(10**5)
    base = 100_000 + secrets.randbelow(80_000) * 10  # GLNs of 6 digits
    coop = await _org(env, county)
    lot = await _lot(env, county)
    async with env.db.transaction() as s:
        carrier = Organisation(
            kind="carrier", name=f"冷链运输 {n}", uscc=uscc(county, 500_000 + n), county=county,
            created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(carrier)
        await s.flush()
        locs = []
        for k, (kind, name) in enumerate(PLACES):
            loc = Location(
                kind=kind, name=f"{name} {n}", county=county, org_id=None,
                gln=gln(base + k), gln_extension="", created_by="test",
            )  # fmt: skip
            s.add(loc)
            locs.append(loc)
        device = f"truck-{secrets.token_hex(4)}"
        s.add(MobileDevice(device_id=device, kind="vehicle", org_id=carrier.id, county=county,
                           registered_by="test"))  # fmt: skip
        await s.flush()
        ids = [loc.id for loc in locs]
    admin = await headers(env, Role.COUNTY_ADMIN, county)
    plate = f"云N{secrets.randbelow(10**5):05d}"
    r = await env.client.put(
        f"{API}/vehicles/{device}",
        json={"plate": plate, "vehicle_type": "4.2m 冷藏车", "refrigerated": True,
              "capacity_kg": 3000, "capacity_m3": 16, "compartments": ids[:2]},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    driver_user, driver_h = await _user(env, Role.DRIVER, county, carrier.id)
    _, carrier_h = await _user(env, Role.CARRIER, county, carrier.id)
    w = World(
        county=county, carrier=carrier.id, coop=coop, vehicle=device, plate=plate,
        compartments=ids[:2], warehouse=ids[2], customer=ids[3], customer2=ids[4],
        cold_room=ids[5], lot=lot, driver_user=driver_user, driver_headers=driver_h,
        carrier_headers=carrier_h, admin=admin,
    )  # fmt: skip
    if driver:
        r = await env.client.post(
            f"{API}/drivers",
            json={"carrier_id": carrier.id, "name": "岩温", "phone": "138 0013 8000",
                  "id_number": "11010519491231002X", "username": driver_user},
            headers=admin,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        w.driver = r.json()["id"]
    return w


def waybill_body(w: World, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "shipper_id": w.coop, "origin_id": w.warehouse, "destination_id": w.customer,
        "temp_class": "chilled", "weight_kg": 800,
        "lots": [{"gtin": G, "lot": w.lot, "quantity": 800, "unit": "KGM"}],
    }  # fmt: skip
    body.update(over)
    return body


async def trip(env: ApiEnv, w: World, day: str = "2026-12-05") -> int:
    r = await env.client.post(
        f"{API}/trips", json={"vehicle_id": w.vehicle, "driver_id": w.driver or None, "day": day},
        headers=w.admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def waybill(env: ApiEnv, w: World, **over: object) -> int:
    r = await env.client.post(f"{API}/waybills", json=waybill_body(w, **over), headers=w.admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def move(env: ApiEnv, h: Headers, wb: int, to: str, **extra: object):  # type: ignore[no-untyped-def]
    return await env.client.post(
        f"{API}/waybills/{wb}/transitions", json={"to": to, **extra}, headers=h
    )
