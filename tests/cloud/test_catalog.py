"""cloud/catalog: the unified social credit code, organisations and mobile device owners."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.catalog.uscc import check_char, check_uscc
from cloud.db import utcnow
from tests.support.api import HOME, OTHER, ApiEnv, api_env

# Published codes: the example of GB 32100-2015 and a listed company's.
VALID = ["91350100M000100Y43", "91110000802100433B", "91310000717854505W"]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_pass(code: str) -> None:
    assert check_uscc(code) == code
    assert check_uscc(f" {code.lower()} ") == code  # typed in lower case, spaces around


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("91350100M000100Y44", "check character is '4' but the first 17 characters give '3'"),
        ("91350100M000100Y4", "18 characters, not 17"),
        ("91350100M000100YI3", "'I' are not used"),
        ("91350100M000100YO3", "'O' are not used"),
        ("913501A0M000100Y43", "characters 3-8"),
    ],
)
def test_bad_codes_say_what_is_wrong(code: str, says: str) -> None:
    with pytest.raises(ValueError) as exc:
        check_uscc(code)
    assert says in str(exc.value)


def test_every_single_character_typo_is_caught() -> None:
    code = VALID[0]
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for i in range(18):
        for c in alphabet:
            if c == code[i] or (2 <= i < 8 and not c.isdigit()):
                continue
            typo = code[:i] + c + code[i + 1 :]
            with pytest.raises(ValueError):
                check_uscc(typo)


def uscc(county: str, n: int) -> str:
    body = f"91{county}MA6{n:06d}"
    return body + check_char(body)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def test_orgs_are_created_by_admins_of_their_county_and_listed_by_county(
    env: ApiEnv,
) -> None:
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    made = {}
    for h, county, n in ((home, HOME, 1), (home, HOME, 2), (other, OTHER, 3)):
        r = await env.client.post(
            "/api/v1/orgs",
            json={"kind": "cooperative", "name": f"合作社 {n}", "uscc": uscc(county, n),
                  "county": county},
            headers=h,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        made[n] = r.json()
    assert made[1]["county"] == HOME and made[1]["uscc"] == uscc(HOME, 1)
    r = await env.client.get("/api/v1/orgs", headers=home)
    assert [o["id"] for o in r.json()["items"]] == [made[1]["id"], made[2]["id"]]
    # keyset pages, the one convention (cloud/pagination.py): Link rel=next
    r = await env.client.get("/api/v1/orgs", params={"limit": 1}, headers=home)
    assert [o["id"] for o in r.json()["items"]] == [made[1]["id"]]
    nxt = re.search(r'<([^>]+)>; rel="next"', r.headers["link"])
    assert nxt is not None
    r = await env.client.get(nxt.group(1), headers=home)
    assert [o["id"] for o in r.json()["items"]] == [made[2]["id"]]
    assert "link" not in r.headers
    # another county's organisation is not found, as if it did not exist
    r = await env.client.get(f"/api/v1/orgs/{made[3]['id']}", headers=home)
    assert r.status_code == 404
    r = await env.client.get(f"/api/v1/orgs/{made[3]['id']}", headers=other)
    assert r.status_code == 200 and r.json()["name"] == "合作社 3"
    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get("/api/v1/orgs", params={"kind": "cooperative"}, headers=pref)
    assert len(r.json()["items"]) == 3
    audit = await env.client.get("/api/v1/audit", headers=home)
    assert "org.created" in {e["action"] for e in audit.json()}


async def test_org_input_errors_name_the_field(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    body = {"kind": "enterprise", "name": "x", "uscc": uscc(HOME, 1), "county": HOME}
    bad_check = uscc(HOME, 1)[:-1] + ("0" if uscc(HOME, 1)[-1] != "0" else "1")
    for change, field in (
        ({"uscc": bad_check}, "body.uscc"),
        ({"county": "533100"}, "body.county"),
        ({"kind": "farm"}, "body.kind"),
    ):
        r = await env.client.post("/api/v1/orgs", json={**body, **change}, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert (await env.client.post("/api/v1/orgs", json=body, headers=h)).status_code == 201
    r = await env.client.post("/api/v1/orgs", json={**body, "name": "again"}, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "body.uscc"
    # not an admin: 403
    d = await env.headers(Role.DISPATCHER, HOME)
    r = await env.client.post("/api/v1/orgs", json={**body, "uscc": uscc(HOME, 2)}, headers=d)
    assert r.status_code == 403


async def test_only_mobile_devices_are_registered(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/orgs",
        json={"kind": "carrier", "name": "x", "uscc": uscc(HOME, 1), "county": HOME},
        headers=h,
    )
    org = r.json()["id"]
    # a wired cold room belongs to its gateway's county
    r = await env.client.put(
        "/api/v1/mobile-devices/gw-m1.room-1", json={"kind": "ble_tag", "org_id": org}, headers=h
    )
    assert r.status_code == 422 and r.json()["field"] == "path.device_id", r.text
    r = await env.client.put(
        "/api/v1/mobile-devices/bad id", json={"kind": "ble_tag", "org_id": org}, headers=h
    )
    assert r.status_code == 422
    r = await env.client.put(
        "/api/v1/mobile-devices/AA:BB:CC:00:00:01",
        json={"kind": "ble_tag", "org_id": org},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["county"] == HOME
    r = await env.client.get("/api/v1/mobile-devices", params={"org_id": org}, headers=h)
    assert [d["device_id"] for d in r.json()["items"]] == ["AA:BB:CC:00:00:01"]


async def test_a_county_cannot_claim_a_tag_another_county_hears(env: ApiEnv) -> None:
    from cloud.db import utcnow
    from cloud.devices.storage import Device

    async with env.db.transaction() as s:  # an unregistered tag, last heard in Longchuan
        s.add(
            Device(
                id="AA:BB:CC:00:00:02", county=OTHER, kind="ble_tag", site="", gateway_id="gw-l1",
                metrics=["temperature"], first_seen_at=utcnow(), last_seen_at=utcnow(),
                last_reading_ms=1, readings=1,
            )
        )  # fmt: skip
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/orgs",
        json={"kind": "carrier", "name": "x", "uscc": uscc(HOME, 1), "county": HOME},
        headers=h,
    )
    body = {"kind": "ble_tag", "org_id": r.json()["id"]}
    r = await env.client.put("/api/v1/mobile-devices/AA:BB:CC:00:00:02", json=body, headers=h)
    assert r.status_code == 409 and "last heard in another county" in r.json()["detail"]
    async with env.db.session() as s:
        dev = await s.get(Device, "AA:BB:CC:00:00:02")
        assert dev is not None and dev.county == OTHER
    p = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.put("/api/v1/mobile-devices/AA:BB:CC:00:00:02", json=body, headers=p)
    assert r.status_code == 200 and r.json()["county"] == HOME


async def _org_user(env: ApiEnv, role: Role, org_id: int) -> dict[str, str]:
    async with env.db.transaction() as s:
        user = User(
            username=f"{role.value}-{secrets.token_hex(3)}", password_hash="x", role=role.value,
            county=HOME, display_name="", disabled=False, created_at=utcnow(), token_version=0,
            org_id=str(org_id),
        )  # fmt: skip
        s.add(user)
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


async def test_an_operator_registers_devices_of_its_own_organisation_only(env: ApiEnv) -> None:
    """Organisation roles write the catalog only for their own organisation
    (Principal.org_id): they register a tag to it, never to a neighbour of the same
    county, never take a neighbour's tag, and create no organisations."""
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    orgs = []
    for n in (11, 12):
        r = await env.client.post(
            "/api/v1/orgs",
            json={"kind": "carrier", "name": f"承运 {n}", "uscc": uscc(HOME, n), "county": HOME},
            headers=home,
        )
        assert r.status_code == 201, r.text
        orgs.append(r.json()["id"])
    mine, neighbour = orgs
    for role in (Role.OPERATOR, Role.CARRIER, Role.OPERATING_COMPANY):
        h = await _org_user(env, role, mine)
        tag = f"AA:11:00:00:00:{secrets.token_hex(1).upper()}"
        r = await env.client.put(
            f"/api/v1/mobile-devices/{tag}", json={"kind": "ble_tag", "org_id": mine}, headers=h
        )
        assert r.status_code == 200 and r.json()["org_id"] == mine, (role, r.text)
        r = await env.client.put(
            f"/api/v1/mobile-devices/{tag}x", json={"kind": "ble_tag", "org_id": neighbour},
            headers=h,
        )  # fmt: skip
        assert r.status_code == 403 and "own organisation" in r.json()["detail"], r.text
        r = await env.client.post(
            "/api/v1/orgs",
            json={"kind": "carrier", "name": "x", "uscc": uscc(HOME, 13), "county": HOME},
            headers=h,
        )
        assert r.status_code == 403, r.text
    # the neighbour's tag stays the neighbour's
    taken = "AA:12:00:00:00:01"
    r = await env.client.put(
        f"/api/v1/mobile-devices/{taken}", json={"kind": "ble_tag", "org_id": neighbour},
        headers=home,
    )  # fmt: skip
    assert r.status_code == 200
    h = await _org_user(env, Role.OPERATOR, mine)
    r = await env.client.put(
        f"/api/v1/mobile-devices/{taken}", json={"kind": "ble_tag", "org_id": mine}, headers=h
    )
    assert r.status_code == 403 and r.json()["field"] == "path.device_id", r.text
    r = await env.client.get(f"/api/v1/mobile-devices/{taken}", headers=home)
    assert r.json()["org_id"] == neighbour
    # an organisation role that belongs to no organisation writes nothing
    h = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.put(
        "/api/v1/mobile-devices/AA:13:00:00:00:01", json={"kind": "ble_tag", "org_id": mine},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 403 and "no organisation" in r.json()["detail"], r.text
