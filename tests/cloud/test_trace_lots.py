"""cloud/trace/lots: register, read and list lots; GS1 lot numbers; county scope."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from cloud.catalog.storage import Organisation
from cloud.db import utcnow
from cloud.trace.lots.schemas import check_lot_number
from tests.cloud.test_api_isolation_mobile import uscc
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import add_product, gtin, member

G = gtin(1)  # a product of a Mangshi co-op
G2 = gtin(2)  # a product of a Longchuan co-op


@pytest.mark.parametrize("lot", ["A", "MS-2026/001", "x" * 20, "!\"%&'()*+,-./:;<=>?_"])
def test_lot_numbers_of_set_82_pass(lot: str) -> None:
    assert check_lot_number(lot) == lot


@pytest.mark.parametrize(
    ("lot", "says"),
    [
        ("", "1 to 20 characters"),
        ("x" * 21, "at most 20 characters, not 21"),
        ("MS 2026", "not ' '"),
        ("批次1", "not '批'"),
        ("a#b", "not '#'"),
    ],
)
def test_lot_numbers_outside_set_82_say_why(lot: str, says: str) -> None:
    with pytest.raises(ValueError) as exc:
        check_lot_number(lot)
    assert says in str(exc.value)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def add_org(env: ApiEnv, county: str, n: int) -> int:
    async with env.db.transaction() as s:
        org = Organisation(
            kind="cooperative", name=f"co-op {n}", uscc=uscc(county, n), county=county,
            created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(org)
        await s.flush()
        return org.id


async def test_lots_are_registered_read_and_listed_by_county(env: ApiEnv) -> None:
    home_org, other_org = await add_org(env, HOME, 1), await add_org(env, OTHER, 2)
    await add_product(env, G, home_org, HOME)
    await add_product(env, G2, other_org, OTHER)
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    body = {"gtin": G[1:], "lot": "MS-2026/01", "org_id": home_org, "quantity": "1250.5",
            "unit": "KGM", "produced_on": "2026-11-20"}  # fmt: skip
    r = await env.client.post("/api/v1/trace/lots", json=body, headers=home)
    assert r.status_code == 201, r.text
    lot = r.json()
    assert lot["gtin"] == G and lot["county"] == HOME and lot["org_id"] == home_org
    assert lot["product_id"] is not None
    assert lot["uri"] == f"https://id.gs1.org/01/{G}/10/MS-2026%2F01"
    assert lot["quantity"] == "1250.5" and lot["unit"] == "KGM"
    # a child lot made from it, and lots of the other county
    child = {"gtin": G, "lot": "MS-2026-02", "org_id": home_org,
             "parents": [{"gtin": G, "lot": "MS-2026/01"}]}  # fmt: skip
    r = await env.client.post("/api/v1/trace/lots", json=child, headers=home)
    assert r.status_code == 201 and r.json()["parents"] == [{"gtin": G, "lot": "MS-2026/01"}]
    for n in range(3):
        r = await env.client.post(
            "/api/v1/trace/lots",
            json={"gtin": G2, "lot": f"LC-{n}", "org_id": other_org},
            headers=other,
        )
        assert r.status_code == 201, r.text
    # one lot, addressed by GTIN (13 or 14 digits) and lot number
    r = await env.client.get(f"/api/v1/trace/lots/{G[1:]}/MS-2026-02", headers=home)
    assert r.status_code == 200 and r.json()["parents"] == [{"gtin": G, "lot": "MS-2026/01"}]
    r = await env.client.get(f"/api/v1/trace/lots/{G2}/LC-0", headers=home)
    assert r.status_code == 404  # another county's lot does not exist for this admin
    r = await env.client.get(f"/api/v1/trace/lots/{G2}/LC-0", headers=other)
    assert r.status_code == 200 and r.json()["county"] == OTHER
    r = await env.client.get("/api/v1/trace/lots", params={"gtin": G, "lot": "MS-2026/01"},
                             headers=home)  # fmt: skip
    assert [x["lot"] for x in r.json()["items"]] == ["MS-2026/01"]
    # the county's lots, in pages (Link rel=next)
    r = await env.client.get("/api/v1/trace/lots", params={"limit": 1}, headers=home)
    assert [x["lot"] for x in r.json()["items"]] == ["MS-2026/01"]
    nxt = re.search(r'<([^>]+)>; rel="next"', r.headers["link"])
    assert nxt is not None
    r = await env.client.get(nxt.group(1), headers=home)
    assert [x["lot"] for x in r.json()["items"]] == ["MS-2026-02"] and "link" not in r.headers
    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get("/api/v1/trace/lots", headers=pref)
    assert len(r.json()["items"]) == 5
    r = await env.client.get("/api/v1/trace/lots", params={"county": OTHER}, headers=home)
    assert r.status_code == 403
    audit = (await env.client.get("/api/v1/audit", headers=home)).json()
    assert {"lot.created"} <= {e["action"] for e in audit}


async def test_lot_input_errors_name_the_field(env: ApiEnv) -> None:
    home_org, other_org = await add_org(env, HOME, 1), await add_org(env, OTHER, 2)
    await add_product(env, G, home_org, HOME)
    await add_product(env, G2, other_org, OTHER)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    body = {"gtin": G, "lot": "L1", "org_id": home_org}
    bad_check = G[:-1] + str((int(G[-1]) + 1) % 10)
    for change, field, status in (
        ({"gtin": bad_check}, "body.gtin", 422),
        ({"gtin": "123"}, "body.gtin", 422),
        ({"lot": "L 1"}, "body.lot", 422),
        ({"lot": "L" * 21}, "body.lot", 422),
        ({"unit": "kilo"}, "body.unit", 422),
        ({"quantity": "-1"}, "body.quantity", 422),
        ({"parents": [{"gtin": G, "lot": "NOPE"}]}, "body.parents[0]", 422),
        ({"gtin": gtin(99)}, "body.gtin", 422),  # not a product of our catalog
        ({"gtin": G2}, "body.gtin", 422),  # another county's product
        ({"origin_base_id": 4242}, "body.origin_base_id", 422),
        ({"org_id": 9999}, "body.org_id", 404),
        ({"org_id": other_org}, "body.org_id", 404),  # another county's organisation
    ):
        r = await env.client.post("/api/v1/trace/lots", json={**body, **change}, headers=h)
        assert r.status_code == status and r.json().get("field") == field, (change, r.text)
    assert (
        "check digit"
        in (
            await env.client.post("/api/v1/trace/lots", json={**body, "gtin": bad_check}, headers=h)
        ).json()["detail"]
    )
    assert (await env.client.post("/api/v1/trace/lots", json=body, headers=h)).status_code == 201
    r = await env.client.post("/api/v1/trace/lots", json=body, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "body.lot"
    r = await env.client.get(f"/api/v1/trace/lots/{bad_check}/L1", headers=h)
    assert r.status_code == 422 and r.json()["field"] == "path.gtin"


async def test_organisation_roles_register_lots_of_their_own_organisation_only(
    env: ApiEnv,
) -> None:
    mine, theirs = await add_org(env, HOME, 1), await add_org(env, HOME, 2)
    await add_product(env, G, mine, HOME)
    h = await member(env, Role.OPERATOR, HOME, mine)
    r = await env.client.post("/api/v1/trace/lots", json={"gtin": G, "lot": "A", "org_id": mine},
                              headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    r = await env.client.post("/api/v1/trace/lots", json={"gtin": G, "lot": "B", "org_id": theirs},
                              headers=h)  # fmt: skip
    assert r.status_code == 403, r.text
    display = await env.headers(Role.DISPLAY, HOME)
    r = await env.client.post("/api/v1/trace/lots", json={"gtin": G, "lot": "C", "org_id": mine},
                              headers=display)  # fmt: skip
    assert r.status_code == 403 and "trace:write" in r.json()["detail"]
