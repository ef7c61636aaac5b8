"""cloud/catalog master data (issue 11): organisations' contact and 主体码, production
bases (GeoJSON), locations (GLN/SGLN) and the devices that measure them, products
(GTIN-14), commodity profiles, the reads trace makes, and a room's profile pushed to
its gateway with set-config. Every test runs on SQLite and PostgreSQL.

One API per database serves the whole module (a migrated database costs seconds):
each test keeps to its own organisations and keys (numbers ``N00``-``N99``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth import policy
from cloud.auth.principal import Role
from cloud.catalog import service
from edge.config import ProfileConfig
from protocol.codec import decode
from protocol.messages import CommandMessage
from tests.cloud.catalog_support import (
    POINT,
    SQUARE,
    ean13,
    gln,
    make_org,
    org_user,
    uscc,
)
from tests.support.api import HOME, OTHER, ApiEnv, api_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path_factory.mktemp("catalog")) as e:
        yield e


def _field(r: Any) -> str:
    assert r.status_code == 422, r.text
    return str(r.json()["field"])


async def test_organisations_carry_a_masked_contact_and_the_platforms_code(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    code = {
        "platform_code": "A53310300012",
        "platform_issuer": "国家农产品质量安全追溯管理信息平台",
    }
    org = await make_org(
        env, admin, HOME, 101, contact_name="岳三", contact_phone="139 0692 0001",
        address="芒市勐焕路 1 号", **code,
    )  # fmt: skip
    r = await env.client.get(f"/api/v1/orgs/{org}", headers=admin)
    assert r.json()["contact_name"] == "岳三" and r.json()["platform_code"] == "A53310300012"
    # roles without personal:read read a mask; the business address is not personal
    auditor = await env.headers(Role.AUDITOR, HOME)
    r = await env.client.get(f"/api/v1/orgs/{org}", headers=auditor)
    assert r.json()["contact_name"] == policy.MASK and r.json()["contact_phone"] == policy.MASK
    assert r.json()["address"] == "芒市勐焕路 1 号"
    r = await env.client.get("/api/v1/orgs", headers=await org_user(env, Role.OPERATOR, org, HOME))
    assert next(o for o in r.json()["items"] if o["id"] == org)["contact_phone"] == policy.MASK
    # the 主体码 is unique per issuer, opaque, and comes with its issuer
    body = {"kind": "enterprise", "name": "x", "county": HOME}
    r = await env.client.post(
        "/api/v1/orgs", json={**body, "uscc": uscc(HOME, 100 + 2), **code}, headers=admin
    )
    assert r.status_code == 409 and r.json()["field"] == "body.platform_code", r.text
    other_issuer = {**code, "platform_issuer": "云南省农产品追溯平台"}
    r = await env.client.post(
        "/api/v1/orgs", json={**body, "uscc": uscc(HOME, 100 + 3), **other_issuer}, headers=admin
    )
    assert r.status_code == 201, r.text
    for bad, field in (
        ({"platform_code": "X1"}, "body.platform_issuer"),
        ({"contact_phone": "call me"}, "body.contact_phone"),
        ({"uscc": uscc(HOME, 100 + 4)[:-1] + "0"}, "body.uscc"),
    ):
        r = await env.client.post(
            "/api/v1/orgs", json={"uscc": uscc(HOME, 100 + 4), **body, **bad}, headers=admin
        )
        assert _field(r) == field, r.text
    # its own operator corrects the contact; a neighbour's may not; the audit names the
    # personal fields changed, never their values
    op = await org_user(env, Role.OPERATOR, org, HOME)
    r = await env.client.patch(
        f"/api/v1/orgs/{org}", json={"contact_phone": "0692-2120001"}, headers=op
    )
    assert r.status_code == 200 and r.json()["contact_phone"] == policy.MASK, r.text
    neighbour = await org_user(env, Role.OPERATOR, org + 1, HOME)
    r = await env.client.patch(f"/api/v1/orgs/{org}", json={"address": "x"}, headers=neighbour)
    assert r.status_code == 403
    r = await env.client.patch(f"/api/v1/orgs/{org}", json={"name": None}, headers=admin)
    assert _field(r) == "body.name"
    r = await env.client.patch(f"/api/v1/orgs/{org}", json={"platform_code": None}, headers=admin)
    assert _field(r) == "body.platform_issuer"
    r = await env.client.get(f"/api/v1/orgs/{org}", headers=admin)
    assert r.json()["contact_phone"] == "0692-2120001" and r.json()["updated_at"]
    async with env.db.session() as s:
        entry = (
            await s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "org.updated", AuditEntry.target == f"org:{org}"
                )
            )
        ).scalar_one()
    assert entry.detail == {"personal_fields_changed": ["contact_phone"]}
    assert "2120001" not in str(entry.detail)


async def test_bases_are_geojson_of_their_organisation(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    org = await make_org(env, admin, HOME, 200 + 1)
    other_org = await make_org(env, admin, HOME, 200 + 2)
    body = {"name": "遮放咖啡基地", "kind": "plantation", "org_id": org, "geometry": SQUARE}
    r = await env.client.post("/api/v1/bases", json={**body, "area_ha": 12.5}, headers=admin)
    assert r.status_code == 201, r.text
    base = r.json()
    assert base["county"] == HOME and base["geometry"] == SQUARE
    assert (base["lon"], base["lat"]) == (98.55, 24.45) and base["area_ha"] == 12.5
    ring = SQUARE["coordinates"][0]
    for geometry, field, says in (
        ({"type": "Point", "coordinates": [24.43, 98.58]}, "body.geometry.coordinates",
         "latitude 98.58 is outside"),
        ({"type": "Point", "coordinates": [198.5, 24.4]}, "body.geometry.coordinates",
         "longitude 198.5"),
        ({"type": "Polygon", "coordinates": [ring[:-1]]}, "body.geometry", "same start and end"),
        ({"type": "Polygon", "coordinates": [[ring[0], ring[1], ring[0]]]}, "body.geometry",
         "at least 4"),
        ({"type": "LineString", "coordinates": ring}, "body.geometry", "Point"),
        ({"type": "Polygon", "coordinates": [[*ring[:2], [98.6, 95.0], ring[0]]]},
         "body.geometry.coordinates[0][2]", "latitude 95.0"),
    ):  # fmt: skip
        r = await env.client.post(
            "/api/v1/bases", json={**body, "geometry": geometry}, headers=admin
        )
        assert _field(r).startswith(field) and says in r.json()["detail"], (geometry, r.text)
    r = await env.client.post("/api/v1/bases", json={**body, "county": OTHER}, headers=admin)
    assert _field(r) == "body.county"
    r = await env.client.post("/api/v1/bases", json={**body, "kind": "mine"}, headers=admin)
    assert _field(r) == "body.kind"
    r = await env.client.post("/api/v1/bases", json={**body, "org_id": 99999}, headers=admin)
    assert r.status_code == 404 and r.json()["field"] == "body.org_id"
    # an organisation enters its own bases, not a neighbour's
    op = await org_user(env, Role.OPERATOR, org, HOME)
    point = {**body, "geometry": POINT, "name": "芒市初加工厂", "kind": "processing_site"}
    r = await env.client.post("/api/v1/bases", json=point, headers=op)
    assert r.status_code == 201 and r.json()["lon"] == 98.585, r.text
    r = await env.client.post("/api/v1/bases", json={**point, "org_id": other_org}, headers=op)
    assert r.status_code == 403 and "own organisation" in r.json()["detail"]
    r = await env.client.patch(
        f"/api/v1/bases/{base['id']}", json={"geometry": POINT, "area_ha": None}, headers=op
    )
    assert r.status_code == 200 and r.json()["area_ha"] is None and r.json()["lat"] == 24.433
    r = await env.client.patch(f"/api/v1/bases/{base['id']}", json={"kind": None}, headers=op)
    assert _field(r) == "body.kind"
    # listed by id, paged by the one convention
    r = await env.client.get("/api/v1/bases", params={"org_id": org, "limit": 1}, headers=op)
    assert [b["id"] for b in r.json()["items"]] == [base["id"]]
    nxt = re.search(r'<([^>]+)>; rel="next"', r.headers["link"])
    assert nxt is not None
    r = await env.client.get(nxt.group(1), headers=op)
    assert [b["name"] for b in r.json()["items"]] == ["芒市初加工厂"] and "link" not in r.headers


async def test_locations_have_a_gln_or_sgln_and_stations_a_tier(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    org = await make_org(env, admin, HOME, 300 + 1)
    room = {"kind": "cold_room", "name": "1 号冷库", "org_id": org, "gln": gln(300 + 1)}
    r = await env.client.post("/api/v1/locations", json=room, headers=admin)
    assert r.status_code == 201, r.text
    cold = r.json()
    assert cold["county"] == HOME and cold["gln_extension"] == "" and cold["devices"] == []
    assert cold["digital_link"] == f"https://id.gs1.org/414/{gln(300 + 1)}"
    # the same GLN with an extension (AI 254) is another location: an SGLN
    body = gln(300 + 1)[:12]
    sgln = f"urn:epc:id:sgln:{body[:7]}.{body[7:]}.bay-2"
    r = await env.client.post("/api/v1/locations", json={**room, "gln": sgln}, headers=admin)
    assert r.status_code == 201 and r.json()["gln_extension"] == "bay-2", r.text
    bay = r.json()
    r = await env.client.post(
        "/api/v1/locations",
        json={**room, "gln": f"https://id.example.cn/414/{gln(300 + 1)}/254/bay-2"},
        headers=admin,
    )
    assert r.status_code == 409 and r.json()["field"] == "body.gln"
    wrong = gln(300 + 2)[:12] + str((int(gln(300 + 2)[12]) + 1) % 10)
    r = await env.client.post("/api/v1/locations", json={**room, "gln": wrong}, headers=admin)
    assert _field(r) == "body.gln" and f"give {gln(300 + 2)[12]}" in r.json()["detail"], r.text
    for change, field in (
        ({"kind": "station"}, "body.tier"),
        ({"tier": "village"}, "body.tier"),
        ({"kind": "garage"}, "body.kind"),
        ({"gln_extension": "bay 3"}, "body.gln_extension"),
        ({"gln": sgln, "gln_extension": "bay-3"}, "body.gln_extension"),
        ({"org_id": None}, "body.county"),
    ):
        r = await env.client.post(
            "/api/v1/locations", json={**room, "gln": gln(300 + 3), **change}, headers=admin
        )
        assert _field(r) == field, (change, r.text)
    # a county's own village station: no organisation, the admins' to write
    station = {"kind": "station", "tier": "village", "name": "风平镇村级服务站", "county": HOME,
               "gln": gln(300 + 4)}  # fmt: skip
    op = await org_user(env, Role.OPERATOR, org, HOME)
    r = await env.client.post("/api/v1/locations", json=station, headers=op)
    assert r.status_code == 403
    r = await env.client.post("/api/v1/locations", json=station, headers=admin)
    assert r.status_code == 201 and r.json()["tier"] == "village" and r.json()["org_id"] is None
    station_id = r.json()["id"]
    r = await env.client.patch(
        f"/api/v1/locations/{station_id}", json={"tier": "township"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["tier"] == "township"
    r = await env.client.patch(
        f"/api/v1/locations/{cold['id']}", json={"tier": "village"}, headers=op
    )
    assert r.status_code == 422 and r.json()["field"] == "body.tier"
    # a base of another organisation is not this location's
    other = await make_org(env, admin, HOME, 300 + 2)
    r = await env.client.post(
        "/api/v1/bases",
        json={"name": "b", "kind": "farm", "org_id": other, "geometry": POINT},
        headers=admin,
    )
    r = await env.client.patch(
        f"/api/v1/locations/{cold['id']}", json={"base_id": r.json()["id"]}, headers=op
    )
    assert r.status_code == 422 and r.json()["field"] == "body.base_id", r.text
    # found by any form of its key, in the API and by trace's reads
    r = await env.client.get(
        "/api/v1/locations", params={"gln": f"https://id.gs1.org/414/{gln(300 + 1)}/254/bay-2"},
        headers=admin,
    )  # fmt: skip
    assert [x["id"] for x in r.json()["items"]] == [bay["id"]]
    r = await env.client.get("/api/v1/locations", params={"gln": wrong}, headers=admin)
    assert _field(r) == "query.gln"
    r = await env.client.get(
        "/api/v1/locations", params={"kind": "station", "tier": "township"}, headers=admin
    )
    assert [x["id"] for x in r.json()["items"]] == [station_id]
    async with env.db.session() as s:
        assert (await service.get_location_by_gln(s, sgln)).id == bay["id"]  # type: ignore[union-attr]
        plain = f"urn:epc:id:sgln:{body[:7]}.{body[7:]}.0"  # extension 0: the GLN itself
        assert (await service.get_location_by_gln(s, plain)).id == cold["id"]  # type: ignore[union-attr]
        assert await service.get_location_by_gln(s, gln(300 + 9)) is None
        assert await service.get_location_by_gln(s, "not a gln") is None
        assert (await service.get_location(s, station_id)).kind == "station"  # type: ignore[union-attr]


async def test_devices_measure_one_location_at_a_time(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    org = await make_org(env, admin, HOME, 400 + 1)
    ids = []
    for n in (1, 2):
        r = await env.client.post(
            "/api/v1/locations",
            json={"kind": "cold_room", "name": f"{n} 号冷库", "org_id": org, "gln": gln(400 + n)},
            headers=admin,
        )
        ids.append(r.json()["id"])
    a, b = ids
    started = datetime.now(UTC) - timedelta(days=2)
    r = await env.client.post(
        f"/api/v1/locations/{a}/devices",
        json={"device_id": "gw-m1.room-5", "since": started.isoformat()},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["pushes"] == [], r.text  # no profile: no push
    r = await env.client.post(
        f"/api/v1/locations/{b}/devices", json={"device_id": "gw-m1.room-5"}, headers=admin
    )
    assert r.status_code == 409 and f"location {a}" in r.json()["detail"]
    moved = datetime.now(UTC) - timedelta(days=1)
    r = await env.client.delete(
        f"/api/v1/locations/{a}/devices/gw-m1.room-5",
        params={"until": moved.isoformat()}, headers=admin,
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["until"] is not None, r.text
    r = await env.client.post(
        f"/api/v1/locations/{b}/devices",
        json={"device_id": "gw-m1.room-5", "since": (moved - timedelta(hours=1)).isoformat()},
        headers=admin,
    )
    assert r.status_code == 409  # would overlap the ended link
    r = await env.client.post(
        f"/api/v1/locations/{b}/devices",
        json={"device_id": "gw-m1.room-5", "since": moved.isoformat()}, headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await env.client.get(f"/api/v1/locations/{b}", headers=admin)
    assert r.json()["devices"] == ["gw-m1.room-5"]
    r = await env.client.get(f"/api/v1/locations/{a}/devices", params={"current": False},
                             headers=admin)  # fmt: skip
    assert [x["device_id"] for x in r.json()["items"]] == ["gw-m1.room-5"]
    async with env.db.session() as s:
        assert await service.devices_of_location(s, a) == []
        assert await service.devices_of_location(s, b) == ["gw-m1.room-5"]
        earlier = started + timedelta(hours=1)
        assert await service.devices_of_location(
            s, a, start=earlier, end=earlier + timedelta(1)
        ) == ["gw-m1.room-5"]
        assert await service.devices_of_location(s, b, start=earlier, end=moved) == []
    # which devices: one of the county's gateways, or a registered tag
    for device, status, field in (
        ("gw-l1.room-1", 404, "body.device_id"),  # Longchuan's gateway
        ("AA:BB:00:00:00:09", 422, "body.device_id"),  # nobody's
        ("bad id", 422, "body.device_id"),
    ):
        r = await env.client.post(
            f"/api/v1/locations/{a}/devices", json={"device_id": device}, headers=admin
        )
        assert r.status_code == status and r.json()["field"] == field, (device, r.text)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await env.client.post(
        f"/api/v1/locations/{a}/devices", json={"device_id": "gw-m1.x", "since": future},
        headers=admin,
    )  # fmt: skip
    assert _field(r) == "body.since"
    r = await env.client.post(
        f"/api/v1/locations/{a}/devices",
        json={"device_id": "gw-m1.x", "since": "2026-01-01T00:00:00"}, headers=admin,
    )  # fmt: skip
    assert _field(r) == "body.since"  # no time zone
    r = await env.client.post(
        f"/api/v1/locations/{a}/devices",
        json={"device_id": "gw-m1.x", "since": "0001-01-01T00:00:00+01:00"}, headers=admin,
    )  # fmt: skip
    assert _field(r) == "body.since"  # before year 1 in UTC
    # an organisation links its own registered tags, not wired devices or others' tags
    op = await org_user(env, Role.OPERATOR, org, HOME)
    r = await env.client.post(
        f"/api/v1/locations/{a}/devices", json={"device_id": "gw-m1.room-2"}, headers=op
    )
    assert r.status_code == 403 and "admins" in r.json()["detail"]
    r = await env.client.delete(f"/api/v1/locations/{b}/devices/gw-m1.room-5", headers=op)
    assert r.status_code == 403
    neighbour = await make_org(env, admin, HOME, 400 + 2)
    for tag, owner in (("AA:BB:00:00:00:01", org), ("AA:BB:00:00:00:02", neighbour)):
        r = await env.client.put(
            f"/api/v1/mobile-devices/{tag}", json={"kind": "ble_tag", "org_id": owner},
            headers=admin,
        )  # fmt: skip
        assert r.status_code == 200
    r = await env.client.post(
        f"/api/v1/locations/{a}/devices", json={"device_id": "AA:BB:00:00:00:01"}, headers=op
    )
    assert r.status_code == 201, r.text
    r = await env.client.post(
        f"/api/v1/locations/{a}/devices", json={"device_id": "AA:BB:00:00:00:02"}, headers=op
    )
    assert r.status_code == 403 and "another organisation" in r.json()["detail"]
    r = await env.client.delete(f"/api/v1/locations/{a}/devices/AA:BB:00:00:00:01", headers=op)
    assert r.status_code == 200
    r = await env.client.delete(f"/api/v1/locations/{a}/devices/AA:BB:00:00:00:01", headers=op)
    assert r.status_code == 404 and r.json()["field"] == "path.device_id"
    actions = {e["action"] for e in (await env.client.get("/api/v1/audit", headers=admin)).json()}
    assert {"location.device_linked", "location.device_unlinked"} <= actions


async def test_products_and_profiles(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    org = await make_org(env, admin, HOME, 500 + 1)
    r = await env.client.get("/api/v1/profiles", headers=admin)
    seeded = {p["name_en"]: p for p in r.json()["items"] if p["county"] == "533100"}
    assert {k: (v["temp_min_c"], v["temp_max_c"], v["rh_min"], v["rh_max"], v["county"])
            for k, v in seeded.items()} == {
        "mango": (10.0, 12.0, None, None, "533100"),
        "lychee": (0.0, 2.0, None, None, "533100"),
        "green coffee": (15.0, 20.0, 50.0, 65.0, "533100"),
    }  # fmt: skip
    coffee = seeded["green coffee"]["id"]
    body = {"gtin": ean13(500 + 1), "name": "德宏小粒咖啡生豆", "name_en": "Dehong arabica, green",
            "category": "coffee", "org_id": org, "profile_id": coffee}  # fmt: skip
    r = await env.client.post("/api/v1/products", json=body, headers=admin)
    assert r.status_code == 201, r.text
    product = r.json()
    assert product["gtin"] == "0" + ean13(500 + 1) and product["county"] == HOME
    wrong = ean13(500 + 2)[:12] + str((int(ean13(500 + 2)[12]) + 3) % 10)
    for change, field, says in (
        ({"gtin": wrong}, "body.gtin", f"give {ean13(500 + 2)[12]}"),
        ({"gtin": "12345"}, "body.gtin", "8 or 12 or 13 or 14 digits"),
        ({"gtin": ean13(500 + 2), "category": "durian"}, "body.category", "fruit_mango"),
        ({"gtin": ean13(500 + 2), "category": "fruit_mango"}, "body.profile_id", "fits coffee"),
        ({"gtin": ean13(500 + 2), "county": OTHER}, "body.county", "organisation"),
    ):
        r = await env.client.post("/api/v1/products", json={**body, **change}, headers=admin)
        assert _field(r) == field and says in r.json()["detail"], (change, r.text)
    r = await env.client.post("/api/v1/products", json=body, headers=admin)
    assert r.status_code == 409 and r.json()["field"] == "body.gtin"
    r = await env.client.get("/api/v1/products", params={"gtin": ean13(500 + 1)}, headers=admin)
    assert [p["id"] for p in r.json()["items"]] == [product["id"]]
    r = await env.client.get("/api/v1/products", params={"gtin": wrong}, headers=admin)
    assert _field(r) == "query.gtin"
    op = await org_user(env, Role.OPERATOR, org, HOME)
    r = await env.client.patch(
        f"/api/v1/products/{product['id']}", json={"category": "tea"}, headers=op
    )
    assert _field(r) == "body.category"  # its profile fits coffee only
    r = await env.client.patch(
        f"/api/v1/products/{product['id']}",
        json={"category": "tea", "profile_id": None, "name_en": "Dehong tea"},
        headers=op,
    )
    assert r.status_code == 200 and r.json()["profile_id"] is None, r.text
    async with env.db.session() as s:
        found = await service.get_product_by_gtin(s, ean13(500 + 1))
        assert found is not None and found.gtin == "0" + ean13(500 + 1) and found.category == "tea"
        assert await service.get_product_by_gtin(s, "0" + ean13(500 + 1)) is not None
        assert await service.get_product_by_gtin(s, wrong) is None
        profile = await service.get_profile(s, coffee)
        assert profile is not None and profile.single_excursion_max_s == 86_400
        assert profile.cumulative_excursion_max_s == 3 * 86_400 and profile.rh_min == 50.0
    # profiles: the prefecture's are the prefecture admins'; a county writes its own
    mine = {"name": "芒市柠檬", "county": HOME, "temp_min_c": 10, "temp_max_c": 14,
            "single_excursion_max_s": 3600, "cumulative_excursion_max_s": 7200,
            "categories": ["fruit_lemon"]}  # fmt: skip
    r = await env.client.post("/api/v1/profiles", json={**mine, "county": "533100"}, headers=admin)
    assert r.status_code == 403
    for change, field in (
        ({"temp_max_c": 10}, "body.temp_max_c"),
        ({"single_excursion_max_s": 9000}, "body.single_excursion_max_s"),
        ({"rh_min": 80}, "body.rh_max"),
        ({"categories": ["durian"]}, "body.categories.0"),
        ({"categories": []}, "body.categories"),
        ({"temp_min_c": -100}, "body.temp_min_c"),
    ):
        r = await env.client.post("/api/v1/profiles", json={**mine, **change}, headers=admin)
        assert _field(r) == field, (change, r.text)
    r = await env.client.post("/api/v1/profiles", json=mine, headers=admin)
    assert r.status_code == 201, r.text
    lemon = r.json()["id"]
    r = await env.client.post("/api/v1/profiles", json=mine, headers=admin)
    assert r.status_code == 409 and r.json()["field"] == "body.name"
    r = await env.client.post(
        "/api/v1/products",
        json={**body, "gtin": ean13(500 + 3), "category": "fruit_lemon", "profile_id": lemon},
        headers=op,
    )
    assert r.status_code == 201, r.text
    r = await env.client.patch(
        f"/api/v1/profiles/{lemon}", json={"categories": ["fruit_other"]}, headers=admin
    )
    assert r.status_code == 409 and "fruit_lemon (1 products)" in r.json()["detail"]
    r = await env.client.patch(f"/api/v1/profiles/{lemon}", json={"temp_min_c": 15}, headers=admin)
    assert _field(r) == "body.temp_max_c"
    r = await env.client.patch(f"/api/v1/profiles/{coffee}", json={"note": "x"}, headers=admin)
    assert r.status_code == 403  # the prefecture's
    p = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.patch(f"/api/v1/profiles/{coffee}", json={"note": "x"}, headers=p)
    assert r.status_code == 200 and r.json()["note"] == "x" and r.json()["pushes"] == []


def _push_of(sent: list[tuple[str, bytes]]) -> tuple[str, CommandMessage]:
    topic, payload = sent.pop(0)
    return topic, decode(CommandMessage, payload)


async def test_a_rooms_profile_is_pushed_to_its_gateway(env: ApiEnv) -> None:
    sent: list[tuple[str, bytes]] = []

    async def publish(topic: str, payload: bytes) -> None:
        sent.append((topic, payload))

    env.app.state.command_publisher = publish
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    org = await make_org(env, admin, HOME, 600 + 1)
    r = await env.client.post(
        "/api/v1/locations",
        json={"kind": "cold_room", "name": "咖啡仓", "org_id": org, "gln": gln(600 + 1)},
        headers=admin,
    )
    room = r.json()["id"]
    await env.client.post(
        f"/api/v1/locations/{room}/devices", json={"device_id": "gw-m1.room-1"}, headers=admin
    )
    r = await env.client.post(
        "/api/v1/profiles",
        json={"name": "芒市咖啡仓", "name_en": "Mangshi coffee store", "county": HOME,
              "temp_min_c": 15, "temp_max_c": 20, "rh_min": 50, "rh_max": 65,
              "single_excursion_max_s": 86_400, "cumulative_excursion_max_s": 3 * 86_400,
              "categories": ["coffee"]},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    coffee = r.json()
    # the organisation assigns its room a profile: the gateway gets set-config
    op = await org_user(env, Role.OPERATOR, org, HOME)
    r = await env.client.put(
        f"/api/v1/locations/{room}/profile", json={"profile_id": coffee["id"]}, headers=op
    )
    assert r.status_code == 200 and r.json()["profile_id"] == coffee["id"], r.text
    (pushed,) = r.json()["pushes"]
    assert pushed["gateway_id"] == "gw-m1" and pushed["sent"] and pushed["profiles"] == 1
    topic, cmd = _push_of(sent)
    assert topic == f"dh/v1/{HOME}/gw-m1/cmd" and cmd.name == "set-config"
    assert cmd.id == pushed["command_id"] and cmd.expires - cmd.issued == 7 * 86_400_000
    (entry,) = cmd.args["sections"]["profiles"]
    # the device reports temp_c and rh (tests/support/api.py): the profile names them
    assert entry == {
        "id": f"profile-{coffee['id']}", "name": "芒市咖啡仓 Mangshi coffee store",
        "device": "room-1",
        "temperature": {"metric": "temp_c", "min": 15.0, "max": 20.0},
        "humidity": {"metric": "rh", "min": 50.0, "max": 65.0},
        "single_excursion_s": 86_400, "severity": "critical",
    }  # fmt: skip
    ProfileConfig.model_validate(entry)  # what the gateway's config schema accepts
    r = await env.client.get("/api/v1/gateways/gw-m1/commands", headers=admin)
    assert [(c["id"], c["name"], c["state"]) for c in r.json()] == [
        (cmd.id, "set-config", "pending")
    ]
    # a change of the profile goes to every gateway of its rooms
    r = await env.client.patch(
        f"/api/v1/profiles/{coffee['id']}", json={"temp_max_c": 21.0}, headers=admin
    )
    assert [x["gateway_id"] for x in r.json()["pushes"]] == ["gw-m1"], r.text
    _, cmd = _push_of(sent)
    assert cmd.args["sections"]["profiles"][0]["temperature"]["max"] == 21.0
    # the device leaves the room: the gateway's profiles are emptied
    r = await env.client.delete(f"/api/v1/locations/{room}/devices/gw-m1.room-1", headers=admin)
    assert r.json()["pushes"][0]["profiles"] == 0
    _, cmd = _push_of(sent)
    assert cmd.args == {"sections": {"profiles": []}}
    r = await env.client.put(f"/api/v1/locations/{room}/profile", json={"profile_id": None},
                             headers=op)  # fmt: skip
    assert r.status_code == 200 and r.json()["pushes"] == [] and sent == []
    # a profile of another county cannot be assigned; the broker down is reported, not a 500
    async with env.db.transaction() as s:
        from cloud.catalog.storage import CommodityProfile

        theirs = CommodityProfile(
            county=OTHER, name="陇川荔枝", temp_min_c=0, temp_max_c=2, single_excursion_max_s=0,
            cumulative_excursion_max_s=0, categories=["fruit_lychee"], created_by="t",
        )  # fmt: skip
        s.add(theirs)
        await s.flush()
        theirs_id = theirs.id
    r = await env.client.put(
        f"/api/v1/locations/{room}/profile", json={"profile_id": theirs_id}, headers=op
    )
    assert r.status_code == 404 and r.json()["field"] == "body.profile_id"
    await env.client.post(
        f"/api/v1/locations/{room}/devices", json={"device_id": "gw-m1.room-1"}, headers=admin
    )

    async def down(_topic: str, _payload: bytes) -> None:
        raise OSError("connection refused")

    env.app.state.command_publisher = down
    r = await env.client.put(
        f"/api/v1/locations/{room}/profile", json={"profile_id": coffee["id"]}, headers=op
    )
    assert r.status_code == 200, r.text
    (pushed,) = r.json()["pushes"]
    assert not pushed["sent"] and "broker unavailable" in pushed["detail"]
