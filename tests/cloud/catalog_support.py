"""Helpers of the catalog tests: valid keys (USCC, GLN, GTIN), organisations and
organisation users made through the API or the database."""

from __future__ import annotations

import secrets
from typing import Any

from cloud.auth.principal import Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.uscc import check_char
from cloud.db import utcnow
from tests.support.api import HOME, ApiEnv

Headers = dict[str, str]


def uscc(county: str, n: int) -> str:
    body = f"91{county}MA6{n:06d}"
    return body + check_char(body)


def gln(n: int) -> str:
    body = f"690{n:09d}"
    return body + gs1_check_digit(body)


def ean13(n: int) -> str:
    body = f"692{n:09d}"
    return body + gs1_check_digit(body)


async def make_org(
    env: ApiEnv, h: Headers, county: str, n: int, kind: str = "cooperative", **extra: Any
) -> int:
    r = await env.client.post(
        "/api/v1/orgs",
        json={"kind": kind, "name": f"合作社 {n}", "uscc": uscc(county, n), "county": county,
              **extra},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def org_user(env: ApiEnv, role: Role, org_id: int | str | None, county: str) -> Headers:
    """Bearer headers of a new user of an organisation role in ``org_id``."""
    async with env.db.transaction() as s:
        user = User(
            username=f"{role.value}-{secrets.token_hex(3)}", password_hash="x", role=role.value,
            county=county, display_name="", disabled=False, created_at=utcnow(), token_version=0,
            org_id=None if org_id is None else str(org_id),
        )  # fmt: skip
        s.add(user)
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


POINT = {"type": "Point", "coordinates": [98.585, 24.433]}  # near Mangshi
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[98.5, 24.4], [98.6, 24.4], [98.6, 24.5], [98.5, 24.5], [98.5, 24.4]]],
}


# ------------------------------------------- one request per catalog route (roles table)


async def home_org(env: ApiEnv) -> int:
    """The HOME organisation the roles table's organisation roles belong to."""
    from tests.cloud.test_api_roles import _home_org

    return await _home_org(env)


def _n() -> int:
    return secrets.randbelow(10**9)


async def _add(env: ApiEnv, row: Any) -> int:
    async with env.db.transaction() as s:
        s.add(row)
        await s.flush()
        return int(row.id)


async def _base(env: ApiEnv) -> int:
    from cloud.catalog.storage import ProductionBase

    return await _add(
        env,
        ProductionBase(
            org_id=await home_org(env), county=HOME, name="base", kind="farm", geometry=POINT,
            lon=98.585, lat=24.433, created_at=utcnow(), created_by="test",
        ),
    )  # fmt: skip


async def _location(env: ApiEnv) -> int:
    from cloud.catalog.storage import Location

    return await _add(
        env,
        Location(
            kind="cold_room", name="room", county=HOME, org_id=await home_org(env),
            gln=gln(_n()), gln_extension="", created_at=utcnow(), created_by="test",
        ),
    )  # fmt: skip


async def _product(env: ApiEnv) -> int:
    from cloud.catalog.storage import Product

    return await _add(
        env,
        Product(
            gtin="0" + ean13(_n()), name="product", category="coffee", org_id=await home_org(env),
            county=HOME, created_at=utcnow(), created_by="test",
        ),
    )  # fmt: skip


async def _profile(env: ApiEnv, county: str = HOME) -> int:
    from cloud.catalog.storage import CommodityProfile

    return await _add(
        env,
        CommodityProfile(
            county=county, name=f"profile {_n()}", temp_min_c=0, temp_max_c=2,
            single_excursion_max_s=60, cumulative_excursion_max_s=600, categories=["coffee"],
            created_at=utcnow(), created_by="test",
        ),
    )  # fmt: skip


async def _home_tag(env: ApiEnv) -> str:
    """A BLE tag registered to the HOME organisation."""
    from cloud.catalog.service import register_device
    from cloud.catalog.storage import Organisation

    tag = "AB:" + ":".join(f"{secrets.randbelow(256):02X}" for _ in range(5))
    async with env.db.transaction() as s:
        org = await s.get_one(Organisation, await home_org(env))
        await register_device(s, tag, kind="ble_tag", org=org, may_take_from=None, actor="test")
    return tag


async def _linked(env: ApiEnv) -> tuple[int, str]:
    from cloud.catalog.storage import LocationDevice

    loc, tag = await _location(env), await _home_tag(env)
    await _add(
        env, LocationDevice(location_id=loc, device_id=tag, since=utcnow(), created_by="test")
    )
    return loc, tag


async def _post_base(e: ApiEnv, h: Headers) -> Any:
    body = {"name": "b", "kind": "farm", "org_id": await home_org(e), "geometry": POINT}
    return await e.client.post("/api/v1/bases", json=body, headers=h)


async def _post_location(e: ApiEnv, h: Headers) -> Any:
    body = {"kind": "warehouse", "name": "w", "org_id": await home_org(e), "gln": gln(_n())}
    return await e.client.post("/api/v1/locations", json=body, headers=h)


async def _post_product(e: ApiEnv, h: Headers) -> Any:
    body = {"gtin": ean13(_n()), "name": "p", "category": "coffee", "org_id": await home_org(e)}
    return await e.client.post("/api/v1/products", json=body, headers=h)


async def _post_profile(e: ApiEnv, h: Headers) -> Any:
    body = {"name": f"p{_n()}", "county": HOME, "temp_min_c": 0, "temp_max_c": 2,
            "single_excursion_max_s": 0, "cumulative_excursion_max_s": 0,
            "categories": ["coffee"]}  # fmt: skip
    return await e.client.post("/api/v1/profiles", json=body, headers=h)


async def _put_profile(e: ApiEnv, h: Headers) -> Any:
    loc, profile = await _location(e), await _profile(e, "533100")
    return await e.client.put(
        f"/api/v1/locations/{loc}/profile", json={"profile_id": profile}, headers=h
    )


async def _link(e: ApiEnv, h: Headers) -> Any:
    loc, tag = await _location(e), await _home_tag(e)
    return await e.client.post(
        f"/api/v1/locations/{loc}/devices", json={"device_id": tag}, headers=h
    )


async def _unlink(e: ApiEnv, h: Headers) -> Any:
    loc, tag = await _linked(e)
    return await e.client.delete(f"/api/v1/locations/{loc}/devices/{tag}", headers=h)


async def _get(e: ApiEnv, h: Headers, path: str, make: Any) -> Any:
    return await e.client.get(path.format(await make(e)), headers=h)


async def _patch(e: ApiEnv, h: Headers, path: str, make: Any, body: dict[str, Any]) -> Any:
    return await e.client.patch(path.format(await make(e)), json=body, headers=h)


MASTER_REQUESTS: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/orgs/{org_id}"): lambda e, h: _patch(
        e, h, "/api/v1/orgs/{}", home_org, {"address": "芒市"}
    ),
    ("GET", "/api/v1/bases"): lambda e, h: e.client.get("/api/v1/bases", headers=h),
    ("GET", "/api/v1/bases/{base_id}"): lambda e, h: _get(e, h, "/api/v1/bases/{}", _base),
    ("POST", "/api/v1/bases"): _post_base,
    ("PATCH", "/api/v1/bases/{base_id}"): lambda e, h: _patch(
        e, h, "/api/v1/bases/{}", _base, {"name": "b2"}
    ),
    ("GET", "/api/v1/locations"): lambda e, h: e.client.get("/api/v1/locations", headers=h),
    ("GET", "/api/v1/locations/{location_id}"): lambda e, h: _get(
        e, h, "/api/v1/locations/{}", _location
    ),
    ("POST", "/api/v1/locations"): _post_location,
    ("PATCH", "/api/v1/locations/{location_id}"): lambda e, h: _patch(
        e, h, "/api/v1/locations/{}", _location, {"name": "r2"}
    ),
    ("PUT", "/api/v1/locations/{location_id}/profile"): _put_profile,
    ("GET", "/api/v1/locations/{location_id}/devices"): lambda e, h: _get(
        e, h, "/api/v1/locations/{}/devices", _location
    ),
    ("POST", "/api/v1/locations/{location_id}/devices"): _link,
    ("DELETE", "/api/v1/locations/{location_id}/devices/{device_id}"): _unlink,
    ("GET", "/api/v1/products"): lambda e, h: e.client.get("/api/v1/products", headers=h),
    ("GET", "/api/v1/products/{product_id}"): lambda e, h: _get(
        e, h, "/api/v1/products/{}", _product
    ),
    ("POST", "/api/v1/products"): _post_product,
    ("PATCH", "/api/v1/products/{product_id}"): lambda e, h: _patch(
        e, h, "/api/v1/products/{}", _product, {"name": "p2"}
    ),
    ("GET", "/api/v1/profiles"): lambda e, h: e.client.get("/api/v1/profiles", headers=h),
    ("GET", "/api/v1/profiles/{profile_id}"): lambda e, h: _get(
        e, h, "/api/v1/profiles/{}", _profile
    ),
    ("POST", "/api/v1/profiles"): _post_profile,
    ("PATCH", "/api/v1/profiles/{profile_id}"): lambda e, h: _patch(
        e, h, "/api/v1/profiles/{}", _profile, {"note": "n"}
    ),
}
