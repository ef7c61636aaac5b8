"""The showcase (issue 15): entries with photos, a product's lots linked to their trace
pages (/01/{gtin}/10/{lot}) with brand admission, the certified (三品一标) products and
participating enterprises per county; only published entries are public, with no
personal data; another county's entry is 404; every write audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.catalog.storage import Organisation, Product
from cloud.inspections.files import files_for
from cloud.services.registry.demo import png, seed_demo
from cloud.services.showcase.service import PHOTO_MAX_BYTES
from cloud.trace.brand.storage import BrandDecision
from cloud.trace.certificates.storage import TraceCertificate, TraceCertificateProduct
from cloud.trace.lots.storage import TraceLot
from tests.cloud.services_registry_cases import fresh_uscc, unlimited
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import gtin

S = "/api/v1/services/showcase"
P = "/api/v1/public/showcase"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        unlimited(e)
        yield e


async def _world(env: ApiEnv) -> dict[str, int | str]:
    g = gtin(1601)
    async with env.db.transaction() as s:
        org = Organisation(kind="cooperative", name="遮放米业合作社", uscc=fresh_uscc(HOME), county=HOME,
                           created_by="test", contact_name="岩温", contact_phone="13811112222")  # fmt: skip
        carrier = Organisation(kind="carrier", name="运输公司", uscc=fresh_uscc(HOME), county=HOME,
                               created_by="test")  # fmt: skip
        s.add_all([org, carrier])
        await s.flush()
        p = Product(gtin=g, name="遮放贡米", name_en="Zhefang rice", category="rice", org_id=org.id,
                    county=HOME, created_by="test")  # fmt: skip
        s.add(p)
        await s.flush()
        lots = []
        for code, granted in (("L/1 A", True), ("L2", False)):
            lot = TraceLot(
                gtin=g, lot=code, county=HOME, org_id=org.id, product_id=p.id, created_by="t"
            )
            s.add(lot)
            await s.flush()
            lots.append(lot)
            s.add(BrandDecision(lot_id=lot.id, county=HOME, granted=not granted, ruleset_version=1,
                                states=[], reason="x", trigger="event"))  # fmt: skip
            await s.flush()
            s.add(BrandDecision(lot_id=lot.id, county=HOME, granted=granted, ruleset_version=1,
                                states=[], reason="y", trigger="event"))  # fmt: skip
        today = date.today()
        for number, valid_to in (
            ("GI-1", today + timedelta(days=30)),
            ("OLD-1", today - timedelta(days=1)),
        ):
            c = TraceCertificate(type="geographical_indication" if number == "GI-1" else "organic",
                                 number=number, holder_uscc=org.uscc, holder_org_id=org.id,
                                 holder_name=org.name, county=HOME,
                                 valid_from=today - timedelta(days=400), valid_to=valid_to,
                                 issuer="农业农村部", created_by="t")  # fmt: skip
            s.add(c)
            await s.flush()
            s.add(TraceCertificateProduct(certificate_id=c.id, gtin=g))
    return {"org": org.id, "product": p.id, "gtin": g, "carrier": carrier.id}


async def test_entries_photos_lots_brand_and_certificates(env: ApiEnv) -> None:
    w = await _world(env)
    h = await env.headers(Role.OPERATING_COMPANY, HOME)
    r = await env.client.post(f"{S}/items", headers=h, json={"kind": "product", "product_id": w["product"],
                                                              "intro": "<b>贡米</b>"})  # fmt: skip
    assert r.status_code == 201 and r.json()["name"] == "遮放贡米" and r.json()["county"] == HOME
    item = r.json()["id"]
    r = await env.client.post(f"{S}/items", headers=h, json={"kind": "enterprise", "org_id": w["org"],
                                                              "published": True})  # fmt: skip
    ent = r.json()["id"]
    for bad, field in (({"kind": "product"}, "body.product_id"), ({"kind": "park", "county": HOME}, "body.name"),
                       ({"kind": "park", "county": "533100", "name": "x"}, "body.county"),
                       ({"kind": "enterprise", "org_id": w["org"], "county": OTHER}, "body.county"),
                       ({"kind": "park", "county": HOME, "name": "x", "lat": 40.0}, "body.lat")):  # fmt: skip
        r = await env.client.post(f"{S}/items", headers=h, json=bad)
        assert r.status_code == 422 and r.json()["field"] == field, (bad, r.text)
    # a photo: JPEG or PNG, size refused by its declared length
    r = await env.client.post(f"{S}/items/{item}/photos", params={"caption": "稻田"}, content=png((0, 120, 0)),
                              headers={**h, "Content-Type": "image/png"})  # fmt: skip
    assert r.status_code == 201, r.text
    photo = r.json()["id"]
    r = await env.client.post(f"{S}/items/{item}/photos", content=b"%PDF-1.4",
                              headers={**h, "Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 415
    r = await env.client.post(f"{S}/items/{item}/photos", content=png((0, 0, 0)),
                              headers={**h, "Content-Type": "image/png",
                                       "Content-Length": str(PHOTO_MAX_BYTES + 1)})  # fmt: skip
    assert r.status_code == 413 and r.json()["field"] == "body"
    # unpublished: not public
    assert (await env.client.get(f"{P}/items/{item}")).status_code == 404
    assert (await env.client.get(f"{P}/photos/{photo}")).status_code == 404
    assert item not in [x["id"] for x in (await env.client.get(P)).json()["items"]]
    r = await env.client.patch(f"{S}/items/{item}", headers=h, json={"published": True})
    assert r.json()["published"] is True
    got = (await env.client.get(f"{P}/items/{item}")).json()
    assert got["product"] == {"gtin": w["gtin"], "category": "rice"}
    # the lots, newest first, link to their trace pages with the lot escaped; brand by the
    # lot's latest decision
    assert got["lots"] == [
        {"lot": "L2", "trace_url": f"/01/{w['gtin']}/10/L2", "produced_on": None, "brand": False},
        {"lot": "L/1 A", "trace_url": f"/01/{w['gtin']}/10/L%2F1%20A", "produced_on": None, "brand": True},
    ]  # fmt: skip
    assert got["brand"] is True
    assert [c["number"] for c in got["certificates"]] == ["GI-1"]  # the expired one is not shown
    assert got["intro"] == "<b>贡米</b>" and got["organisation"]["name"] == "遮放米业合作社"
    r = await env.client.get(got["photos"][0]["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    # the H5 page: text escaped, lots linked
    assert (
        "合作社" in (await env.client.get("/h5/showcase", params={"section": "participants"})).text
    )
    page = (await env.client.get(f"/h5/showcase/{item}")).text
    assert "&lt;b&gt;贡米&lt;/b&gt;" in page and f'href="/01/{w["gtin"]}/10/L%2F1%20A"' in page
    assert "德宏品牌" in page and "农产品地理标志" in page
    # the certified list and the participating enterprises, per county, with no contact
    cert = (await env.client.get(f"{P}/certified", params={"county": HOME})).json()["items"]
    assert [(x["gtin"], x["showcase_url"]) for x in cert] == [(w["gtin"], f"/h5/showcase/{item}")]
    assert (await env.client.get(f"{P}/certified", params={"county": OTHER})).json()["items"] == []
    ents = (await env.client.get(f"{P}/enterprises", params={"county": HOME})).json()["items"]
    assert [(x["id"], x["showcase_url"]) for x in ents] == [
        (w["org"], f"/h5/showcase/{ent}")
    ]  # no carrier
    for path in (
        P,
        f"{P}/items/{item}",
        f"{P}/certified",
        f"{P}/enterprises",
        f"/h5/showcase/{ent}",
    ):
        text = (await env.client.get(path)).text
        assert "岩温" not in text and "13811112222" not in text, path
    # another county: 404 on its entries and photos, refused on writes
    stranger = await env.headers(Role.COUNTY_ADMIN, OTHER)
    for path in (f"{S}/items/{item}", f"{S}/photos/{photo}"):
        assert (await env.client.get(path, headers=stranger)).status_code == 404
    r = await env.client.patch(f"{S}/items/{item}", headers=stranger, json={"published": False})
    assert r.status_code == 404
    # audited
    async with env.db.session() as s:
        actions = [e.action for e in await s.scalars(
            select(AuditEntry).where(AuditEntry.target == f"showcase:{item}").order_by(AuditEntry.id))]  # fmt: skip
    assert actions == ["showcase.item_created", "showcase.photo_added", "showcase.item_updated"]


async def test_seed_demo_is_idempotent_and_public(env: ApiEnv) -> None:
    async with env.db.transaction() as s:
        first = await seed_demo(s, files_for(env.settings))
    async with env.db.transaction() as s:
        assert await seed_demo(s, files_for(env.settings)) == first
    items = (await env.client.get(P, params={"limit": 100})).json()["items"]
    assert {x["county"] for x in items} == {"533103", "533124", "533123", "533122"}
    assert len(items) == 12 and all(x["photos"] for x in items)
    products = [x for x in items if x["kind"] == "product"]
    assert all(x["brand"] and x["certificates"] and x["lots"] for x in products)
    policies = (await env.client.get("/api/v1/public/policies")).json()["items"]
    assert len(policies) == 3  # the scheduled one and the draft are not shown
