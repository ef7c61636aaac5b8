"""County isolation of the catalog's master data routes (issue 11): bases, locations
and their devices, products, commodity profiles, and the organisation update.

``MASTER_CASES`` joins the table of every route in tests/cloud/test_api_isolation.py,
which runs each case for every role of Mangshi (HOME) that may call the route: a
Longchuan (OTHER) record is 404 (as if it did not exist), lists leave it out, a
``?county=`` of OTHER is 403, and a write naming OTHER's records changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.auth.principal import Role
from cloud.catalog.storage import (
    CommodityProfile,
    Location,
    LocationDevice,
    Organisation,
    Product,
    ProductionBase,
)
from cloud.db import utcnow
from tests.cloud.catalog_support import POINT, ean13, gln, uscc
from tests.support.api import HOME, OTHER, ApiEnv, api_env

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]


@dataclass(frozen=True)
class Theirs:
    org: int
    base: int
    location: int
    product: int
    profile: int
    gtin: str


async def theirs(env: ApiEnv) -> Theirs:
    """Longchuan's organisation, base, location (measured by its gateway's room),
    product and county profile (made once per database)."""
    known: Theirs | None = getattr(env, "_catalog_theirs", None)
    if known is None:
        known = await _make_theirs(env)
        env._catalog_theirs = known  # type: ignore[attr-defined]
    return known


async def _make_theirs(env: ApiEnv) -> Theirs:
    async with env.db.transaction() as s:
        found = await s.scalar(select(Product).where(Product.county == OTHER))
        if found is not None:
            base = await s.scalar(select(ProductionBase.id).where(ProductionBase.county == OTHER))
            loc = await s.scalar(select(Location.id).where(Location.county == OTHER))
            assert base is not None and loc is not None and found.profile_id is not None
            return Theirs(found.org_id, base, loc, found.id, found.profile_id, found.gtin)
        made = {"created_at": utcnow(), "created_by": "test"}
        org = Organisation(
            kind="cooperative", name="陇川合作社", uscc=uscc(OTHER, 901), county=OTHER,
            contact_name="岳四", contact_phone="13900000000", **made,
        )  # fmt: skip
        s.add(org)
        await s.flush()
        base = ProductionBase(
            org_id=org.id, county=OTHER, name="陇川果园", kind="orchard", geometry=POINT,
            lon=97.79, lat=24.18, **made,
        )  # fmt: skip
        profile = CommodityProfile(
            county=OTHER, name="陇川柠檬", temp_min_c=10, temp_max_c=13,
            single_excursion_max_s=60, cumulative_excursion_max_s=600,
            categories=["fruit_lemon"], **made,
        )  # fmt: skip
        s.add_all([base, profile])
        await s.flush()
        loc = Location(
            kind="cold_room", name="陇川冷库", county=OTHER, org_id=org.id, base_id=base.id,
            gln=gln(901), gln_extension="", profile_id=profile.id, **made,
        )  # fmt: skip
        product = Product(
            gtin="0" + ean13(901), name="陇川柠檬", category="fruit_lemon", org_id=org.id,
            county=OTHER, profile_id=profile.id, **made,
        )  # fmt: skip
        s.add_all([loc, product])
        await s.flush()
        s.add(
            LocationDevice(
                location_id=loc.id, device_id="gw-l1.room-1", since=utcnow(), created_by="test"
            )
        )
        return Theirs(org.id, base.id, loc.id, product.id, profile.id, product.gtin)


def _not_found(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert r.json()["detail"].endswith("not found"), r.text


async def _unchanged(env: ApiEnv, table: type, ident: int, **expected: object) -> None:
    """The OTHER record still has the ``expected`` values."""
    async with env.db.session() as s:
        row = await s.get_one(table, ident)
        assert {k: getattr(row, k) for k in expected} == expected


async def _links(env: ApiEnv, t: Theirs) -> None:
    async with env.db.session() as s:
        rows = await s.execute(
            select(LocationDevice.device_id, LocationDevice.until).where(
                LocationDevice.location_id == t.location
            )
        )
        assert [tuple(r) for r in rows] == [("gw-l1.room-1", None)]


async def _listed(env: ApiEnv, h: Headers, path: str, **params: object) -> None:
    await theirs(env)
    r = await env.client.get(path, params=params, headers=h)
    assert r.status_code == 200, r.text
    assert all(x["county"] == HOME for x in r.json()["items"]), r.text
    r = await env.client.get(path, params={**params, "county": OTHER}, headers=h)
    assert r.status_code == 403, r.text


async def org_update(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    _not_found(await env.client.patch(f"/api/v1/orgs/{t.org}", json={"address": "x"}, headers=h))
    await _unchanged(env, Organisation, t.org, address=None)


async def bases_list(env: ApiEnv, h: Headers) -> None:
    await _listed(env, h, "/api/v1/bases")
    t = await theirs(env)
    r = await env.client.get("/api/v1/bases", params={"org_id": t.org}, headers=h)
    assert r.json()["items"] == []


async def base_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get(f"/api/v1/bases/{(await theirs(env)).base}", headers=h))


async def base_create(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    r = await env.client.post(
        "/api/v1/bases",
        json={"name": "x", "kind": "farm", "org_id": t.org, "geometry": POINT},
        headers=h,
    )
    _not_found(r)
    assert r.json()["field"] == "body.org_id"


async def base_update(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    _not_found(await env.client.patch(f"/api/v1/bases/{t.base}", json={"name": "x"}, headers=h))
    await _unchanged(env, ProductionBase, t.base, name="陇川果园")


async def locations_list(env: ApiEnv, h: Headers) -> None:
    await _listed(env, h, "/api/v1/locations")
    r = await env.client.get("/api/v1/locations", params={"gln": gln(901)}, headers=h)
    assert r.json()["items"] == []


async def location_get(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    _not_found(await env.client.get(f"/api/v1/locations/{t.location}", headers=h))


async def location_create(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    body = {"kind": "warehouse", "name": "x", "gln": gln(902)}
    r = await env.client.post("/api/v1/locations", json={**body, "org_id": t.org}, headers=h)
    _not_found(r)
    r = await env.client.post(
        "/api/v1/locations", json={**body, "kind": "station", "tier": "village", "county": OTHER},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 403, r.text
    async with env.db.session() as s:
        assert await s.scalar(select(Location.id).where(Location.gln == gln(902))) is None


async def location_update(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    r = await env.client.patch(f"/api/v1/locations/{t.location}", json={"name": "x"}, headers=h)
    _not_found(r)
    await _unchanged(env, Location, t.location, name="陇川冷库")


async def location_profile(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    r = await env.client.put(
        f"/api/v1/locations/{t.location}/profile", json={"profile_id": None}, headers=h
    )
    _not_found(r)
    await _unchanged(env, Location, t.location, profile_id=t.profile)


async def location_devices(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    _not_found(await env.client.get(f"/api/v1/locations/{t.location}/devices", headers=h))


async def location_device_link(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    r = await env.client.post(
        f"/api/v1/locations/{t.location}/devices", json={"device_id": "gw-l1.room-2"}, headers=h
    )
    _not_found(r)
    await _links(env, t)


async def location_device_unlink(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    r = await env.client.delete(f"/api/v1/locations/{t.location}/devices/gw-l1.room-1", headers=h)
    _not_found(r)
    await _links(env, t)


async def products_list(env: ApiEnv, h: Headers) -> None:
    await _listed(env, h, "/api/v1/products")
    t = await theirs(env)
    r = await env.client.get("/api/v1/products", params={"gtin": t.gtin}, headers=h)
    assert r.json()["items"] == []


async def product_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get(f"/api/v1/products/{(await theirs(env)).product}", headers=h))


async def product_create(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    body = {"gtin": ean13(903), "name": "x", "category": "fruit_lemon", "org_id": t.org}
    _not_found(await env.client.post("/api/v1/products", json=body, headers=h))
    # nor may a product of one's own county use Longchuan's own profile
    async with env.db.session() as s:
        mine = await s.scalar(select(Organisation.id).where(Organisation.county == HOME))
    if mine is not None:
        r = await env.client.post(
            "/api/v1/products", json={**body, "org_id": mine, "profile_id": t.profile}, headers=h
        )
        assert r.status_code in (403, 404), r.text


async def product_update(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    r = await env.client.patch(f"/api/v1/products/{t.product}", json={"name": "x"}, headers=h)
    _not_found(r)
    await _unchanged(env, Product, t.product, name="陇川柠檬")


async def profiles_list(env: ApiEnv, h: Headers) -> None:
    await theirs(env)
    r = await env.client.get("/api/v1/profiles", headers=h)
    counties = {p["county"] for p in r.json()["items"]}
    assert "533100" in counties and OTHER not in counties, r.text
    r = await env.client.get("/api/v1/profiles", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def profile_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get(f"/api/v1/profiles/{(await theirs(env)).profile}", headers=h))


async def profile_create(env: ApiEnv, h: Headers) -> None:
    body = {"name": "sneaky", "temp_min_c": 0, "temp_max_c": 1, "single_excursion_max_s": 0,
            "cumulative_excursion_max_s": 0, "categories": ["other"]}  # fmt: skip
    for county in (OTHER, "533100"):
        r = await env.client.post("/api/v1/profiles", json={**body, "county": county}, headers=h)
        assert r.status_code == 403, r.text


async def profile_update(env: ApiEnv, h: Headers) -> None:
    t = await theirs(env)
    r = await env.client.patch(f"/api/v1/profiles/{t.profile}", json={"temp_max_c": 30}, headers=h)
    _not_found(r)
    await _unchanged(env, CommodityProfile, t.profile, temp_max_c=13)


MASTER_CASES: dict[tuple[str, str], Case] = {
    ("PATCH", "/api/v1/orgs/{org_id}"): org_update,
    ("GET", "/api/v1/bases"): bases_list,
    ("GET", "/api/v1/bases/{base_id}"): base_get,
    ("POST", "/api/v1/bases"): base_create,
    ("PATCH", "/api/v1/bases/{base_id}"): base_update,
    ("GET", "/api/v1/locations"): locations_list,
    ("GET", "/api/v1/locations/{location_id}"): location_get,
    ("POST", "/api/v1/locations"): location_create,
    ("PATCH", "/api/v1/locations/{location_id}"): location_update,
    ("PUT", "/api/v1/locations/{location_id}/profile"): location_profile,
    ("GET", "/api/v1/locations/{location_id}/devices"): location_devices,
    ("POST", "/api/v1/locations/{location_id}/devices"): location_device_link,
    ("DELETE", "/api/v1/locations/{location_id}/devices/{device_id}"): location_device_unlink,
    ("GET", "/api/v1/products"): products_list,
    ("GET", "/api/v1/products/{product_id}"): product_get,
    ("POST", "/api/v1/products"): product_create,
    ("PATCH", "/api/v1/products/{product_id}"): product_update,
    ("GET", "/api/v1/profiles"): profiles_list,
    ("GET", "/api/v1/profiles/{profile_id}"): profile_get,
    ("POST", "/api/v1/profiles"): profile_create,
    ("PATCH", "/api/v1/profiles/{profile_id}"): profile_update,
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def test_a_prefecture_admin_sees_every_countys_master_data(env: ApiEnv) -> None:
    t = await theirs(env)
    p = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    for path in (f"/api/v1/bases/{t.base}", f"/api/v1/locations/{t.location}",
                 f"/api/v1/products/{t.product}", f"/api/v1/profiles/{t.profile}"):  # fmt: skip
        r = await env.client.get(path, headers=p)
        assert r.status_code == 200, (path, r.text)
    r = await env.client.get(f"/api/v1/locations/{t.location}", headers=p)
    assert r.json()["devices"] == ["gw-l1.room-1"]
    r = await env.client.get("/api/v1/orgs", params={"county": OTHER}, headers=p)
    assert [o["contact_name"] for o in r.json()["items"]] == ["岳四"]  # admins read personal data
    lc = await env.headers(Role.COUNTY_ADMIN, OTHER)
    r = await env.client.get("/api/v1/profiles", headers=lc)
    assert OTHER in {x["county"] for x in r.json()["items"]}
