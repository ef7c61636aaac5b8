"""Self-registration (issue 15): USCC checked, licence scan refused by its declared size
before a byte is read, county review (approve, refuse with a reason; another county's
is 404), the approved organisation a catalog organisation like any other, platforms'
keys confined to their own shops, every write audited, the monthly figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth import policy
from cloud.auth.principal import Role
from cloud.catalog.storage import Organisation
from cloud.services.registry.service import LICENCE_MAX_BYTES, monthly_figures
from tests.cloud.services_registry_cases import PDF, fresh_uscc, unlimited
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import gtin

P = "/api/v1/public/registrations"
S = "/api/v1/services"
C = "/api/v1/commerce"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        unlimited(e)
        yield e


def body(**extra: Any) -> dict[str, Any]:
    return {"kind": "enterprise", "name": "芒市咖啡有限公司", "uscc": fresh_uscc(HOME),
            "county": HOME, "contact_name": "张三", "contact_phone": "138 0000 0000",
            "address": "芒市勐焕路 1 号", **extra}  # fmt: skip


async def submit(env: ApiEnv, **extra: Any) -> dict[str, Any]:
    r = await env.client.post(P, json=body(**extra))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def upload(env: ApiEnv, reg: dict[str, Any], data: bytes = PDF) -> Any:
    return await env.client.put(f"{P}/{reg['id']}/licence", content=data,
                                headers={"Content-Type": "application/pdf",
                                         "X-Receipt": reg["receipt"]})  # fmt: skip


BAD = [
    ("uscc", "91533103MA6K000000", "check character"),
    ("uscc", "91533103MA6K00000", "18 characters"),
    ("uscc", "91533103MA6K0000OI", "not used"),
    ("county", "533100", "not one of Dehong's counties"),
    ("county", "110101", "not one of Dehong's counties"),
    ("contact_phone", "call me", "pattern"),
    ("kind", "bank", "Input should be"),
]


async def test_bad_registrations_are_refused_naming_the_field(env: ApiEnv) -> None:
    for field, value, reason in BAD:
        r = await env.client.post(P, json=body(**{field: value}))
        assert r.status_code == 422 and r.json()["field"] == f"body.{field}", r.text
        assert reason in r.json()["detail"], r.text


async def test_a_taken_uscc_is_refused(env: ApiEnv) -> None:
    reg = await submit(env)
    again = body()
    async with env.db.session() as s:
        from cloud.services.registry.storage import Registration

        again["uscc"] = (await s.get_one(Registration, reg["id"])).uscc
    r = await env.client.post(P, json=again)
    assert r.status_code == 409 and r.json()["field"] == "body.uscc", r.text


async def test_a_licence_declared_at_100_mb_is_refused_before_it_is_read(env: ApiEnv) -> None:
    reg = await submit(env)
    received: list[int] = []

    async def receive() -> dict[str, Any]:
        received.append(1)  # never asked: the declared length is enough
        return {"type": "http.request", "body": b"%PDF-", "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    declared = 100 * 1024 * 1024
    assert declared > LICENCE_MAX_BYTES
    headers = [(b"content-length", str(declared).encode()), (b"content-type", b"application/pdf"),
               (b"x-receipt", reg["receipt"].encode())]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
             "scheme": "http", "path": f"{P}/{reg['id']}/licence", "raw_path": b"",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("api", 80)}  # fmt: skip
    await env.app(scope, receive, send)
    assert sent[0]["status"] == 413 and received == []
    assert b'"field":"body"' in sent[1]["body"] and str(declared).encode() in sent[1]["body"]


async def test_licence_must_be_a_pdf_jpeg_or_png_and_the_receipt_must_match(env: ApiEnv) -> None:
    reg = await submit(env)
    other = await submit(env)
    r = await env.client.put(f"{P}/{reg['id']}/licence", content=b"hello",
                             headers={"Content-Type": "text/plain", "X-Receipt": reg["receipt"]})  # fmt: skip
    assert r.status_code == 415 and r.json()["field"] == "header.Content-Type"
    r = await env.client.put(f"{P}/{reg['id']}/licence", content=b"GIF89a",
                             headers={"Content-Type": "application/pdf", "X-Receipt": reg["receipt"]})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body"
    r = await upload(env, {"id": reg["id"], "receipt": other["receipt"]})
    assert r.status_code == 404
    r = await env.client.get(f"{P}/{reg['id']}")
    assert r.status_code == 404  # no receipt, no status
    r = await upload(env, reg)
    assert r.status_code == 200 and r.json()["licence"]["size"] == len(PDF), r.text


async def test_county_review_approve_and_refuse(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    stranger = await env.headers(Role.COUNTY_ADMIN, OTHER)
    reg = await submit(env)
    # without a licence it cannot be approved
    r = await env.client.post(f"{S}/registrations/{reg['id']}/approve", headers=admin)
    assert r.status_code == 409 and r.json()["field"] == "licence", r.text
    assert (await upload(env, reg)).status_code == 200
    # another county's admin: 404 on every route, nothing changes
    for method, path in (("GET", ""), ("GET", "/licence"), ("POST", "/approve")):
        r = await env.client.request(
            method, f"{S}/registrations/{reg['id']}{path}", headers=stranger
        )
        assert r.status_code == 404, (path, r.text)
    r = await env.client.post(f"{S}/registrations/{reg['id']}/refuse", json={"reason": "xx"},
                              headers=stranger)  # fmt: skip
    assert r.status_code == 404
    # the county reads it, the licence scan included
    r = await env.client.get(f"{S}/registrations/{reg['id']}/licence", headers=admin)
    assert r.status_code == 200 and r.content == PDF
    r = await env.client.post(f"{S}/registrations/{reg['id']}/approve", headers=admin)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["status"] == "approved" and got["org_id"] and got["contact_name"] == "张三"
    r = await env.client.post(f"{S}/registrations/{reg['id']}/approve", headers=admin)
    assert r.status_code == 409  # reviewed once
    # the registrant reads the outcome with its receipt
    r = await env.client.get(f"{P}/{reg['id']}", headers={"X-Receipt": reg["receipt"]})
    assert r.json()["status"] == "approved" and r.json()["org_id"] == got["org_id"]
    # refused with a reason the registrant reads; a reason is required
    reg2 = await submit(env)
    r = await env.client.post(f"{S}/registrations/{reg2['id']}/refuse", json={}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "body.reason"
    r = await env.client.post(f"{S}/registrations/{reg2['id']}/refuse",
                              json={"reason": "执照已过期 (licence expired)"}, headers=admin)  # fmt: skip
    assert r.json()["status"] == "refused"
    r = await env.client.get(f"{P}/{reg2['id']}", headers={"X-Receipt": reg2["receipt"]})
    assert r.json()["reason"] == "执照已过期 (licence expired)"
    # an auditor reads registrations with the contact masked; the list leaves OTHER out
    auditor = await env.headers(Role.AUDITOR, "533100")
    r = await env.client.get(f"{S}/registrations/{reg['id']}", headers=auditor)
    assert r.json()["contact_phone"] == policy.MASK and r.json()["address"] == policy.MASK
    assert {
        x["county"] for x in (await env.client.get(f"{S}/registrations", headers=stranger)).json()
    } <= {OTHER}


async def test_every_write_is_audited_without_the_contact(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    reg = await submit(env)
    await upload(env, reg)
    await env.client.post(f"{S}/registrations/{reg['id']}/approve", headers=admin)
    async with env.db.session() as s:
        rows = list(await s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    actions = [e.action for e in rows if e.target == f"registration:{reg['id']}"]
    assert actions == ["registration.submitted", "registration.licence_uploaded",
                       "registration.approved"]  # fmt: skip
    assert any(e.action == "org.created" for e in rows)
    text = str([e.detail for e in rows])
    assert "张三" not in text and "138 0000 0000" not in text and "勐焕路" not in text
    first = next(e for e in rows if e.action == "registration.submitted")
    assert first.detail["personal_fields_changed"] == ["address", "contact_name", "contact_phone"]


async def _approved(env: ApiEnv, admin: dict[str, str], **extra: Any) -> int:
    reg = await submit(env, **extra)
    await upload(env, reg)
    r = await env.client.post(f"{S}/registrations/{reg['id']}/approve", headers=admin)
    assert r.status_code == 200, r.text
    return int(r.json()["org_id"])


async def test_an_approved_organisation_uses_the_services_on_equal_terms(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    org_id = await _approved(env, admin)
    # it is a catalog organisation of its county like one the county entered itself
    r = await env.client.get(f"/api/v1/orgs/{org_id}", headers=admin)
    assert r.status_code == 200 and r.json()["county"] == HOME, r.text
    # its operator registers its shop and products, as any organisation's operator does
    await env.add_user("coffee-op", Role.OPERATOR, HOME)
    async with env.db.transaction() as s:
        from cloud.auth.storage import User

        (await s.scalars(select(User).where(User.username == "coffee-op"))).one().org_id = str(
            org_id
        )
    op = await _token_of(env, "coffee-op")
    r = await env.client.post(f"{C}/shops", headers=op, json={
        "channel": "taobao", "platform_shop_id": "tb-new-1", "name": "新店", "org_id": org_id})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await env.client.post("/api/v1/products", headers=op, json={
        "gtin": gtin(1501), "name": "咖啡", "category": "coffee", "org_id": org_id})  # fmt: skip
    assert r.status_code == 201, r.text


async def _token_of(env: ApiEnv, username: str) -> dict[str, str]:
    from cloud.auth.service import get_user, issue_token

    async with env.db.session() as s:
        user = await get_user(s, username)
    assert user is not None
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


async def test_a_platform_key_pushes_only_for_its_own_shops(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    maker = await _approved(env, admin, name="芒市咖啡社", kind="cooperative")
    platform = await _approved(env, admin, name="德宏本地电商平台", kind="platform")
    shops = []
    for sid in ("lp-1", "lp-2"):
        r = await env.client.post(f"{C}/shops", headers=admin, json={
            "channel": "local", "platform_shop_id": sid, "name": sid, "org_id": maker})  # fmt: skip
        shops.append(r.json()["id"])
    r = await env.client.post("/api/v1/products", headers=admin, json={
        "gtin": gtin(1502), "name": "咖啡", "category": "coffee", "org_id": maker})  # fmt: skip
    product = r.json()["id"]
    # only a platform organisation gets a platform key
    r = await env.client.post(f"{S}/platform-keys", headers=admin,
                              json={"org_id": maker, "name": "x", "shop_ids": [shops[0]]})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.org_id"
    r = await env.client.post(f"{S}/platform-keys", headers=admin,
                              json={"org_id": platform, "name": "对接", "shop_ids": [shops[0]]})  # fmt: skip
    assert r.status_code == 201, r.text
    key = {"X-API-Key": r.json()["key"]}
    key_id = r.json()["key_id"]
    assert r.json()["shop_ids"] == [shops[0]]
    # its own shop: products (SKU mappings) and orders go in
    r = await env.client.put(f"{C}/shops/{shops[0]}/skus", headers=key,
                             json=[{"sku": "COF", "product_id": product}])  # fmt: skip
    assert r.status_code == 200, r.text
    order = {"shop_id": shops[0], "platform_order_id": "LP-1", "ordered_at": "2026-03-20T10:00:00+08:00",
             "lines": [{"sku": "COF", "quantity": 1, "amount": "50.00"}]}  # fmt: skip
    r = await env.client.post(f"{C}/orders", headers=key, json=order)
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    r = await env.client.post(f"{C}/orders/{oid}/status", headers=key,
                              json={"status": "shipped", "at": "2026-03-21T10:00:00+08:00"})  # fmt: skip
    assert r.status_code == 200, r.text
    # another shop of the same county and organisation: 404, nothing written
    r = await env.client.post(f"{C}/orders", headers=key,
                              json={**order, "shop_id": shops[1], "platform_order_id": "LP-2"})  # fmt: skip
    assert r.status_code == 404 and r.json()["field"] == "body.shop_id"
    r = await env.client.put(f"{C}/shops/{shops[1]}/skus", headers=key,
                             json=[{"sku": "COF", "product_id": product}])  # fmt: skip
    assert r.status_code == 404
    # it lists only its shop and its orders, and registers no shop
    assert [x["id"] for x in (await env.client.get(f"{C}/shops", headers=key)).json()] == [shops[0]]
    r = await env.client.post(f"{C}/orders", headers=admin,
                              json={**order, "shop_id": shops[1], "platform_order_id": "LP-3"})  # fmt: skip
    assert r.status_code == 201
    assert [x["id"] for x in (await env.client.get(f"{C}/orders", headers=key)).json()] == [oid]
    r = await env.client.post(f"{C}/shops", headers=key, json={
        "channel": "local", "platform_shop_id": "lp-9", "name": "x", "org_id": maker})  # fmt: skip
    assert r.status_code == 404
    # nothing else: indicators, the catalog, the registry
    for path in (f"{C}/indicators", "/api/v1/orgs", f"{S}/registrations"):
        assert (await env.client.get(path, headers=key)).status_code == 403, path
    # revoked: refused
    r = await env.client.delete(f"{S}/platform-keys/{key_id}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert (await env.client.get(f"{C}/shops", headers=key)).status_code == 401


async def test_a_user_given_the_platform_role_acts_for_no_shop(env: ApiEnv) -> None:
    h = await env.headers(Role.PLATFORM, HOME)
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    maker = await _approved(env, admin, name="某合作社", kind="cooperative")
    r = await env.client.post(f"{C}/shops", headers=admin, json={
        "channel": "local", "platform_shop_id": "lp-x", "name": "x", "org_id": maker})  # fmt: skip
    assert (await env.client.get(f"{C}/shops", headers=h)).json() == []
    assert (await env.client.get(f"{C}/shops/{r.json()['id']}", headers=h)).status_code == 404


async def test_monthly_figures(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    await _approved(env, admin)
    refused = await submit(env)
    await env.client.post(f"{S}/registrations/{refused['id']}/refuse", json={"reason": "重复"},
                          headers=admin)  # fmt: skip
    await submit(env)
    await submit(env, county=OTHER, uscc=fresh_uscc(OTHER))
    from cloud.services.registry.service import month_of

    month = month_of(datetime.now(UTC))
    got = await monthly_figures(env.db, HOME, month)
    assert got == {"county": HOME, "month": month, "registrations_received": 3,
                   "registrations_approved": 1, "registrations_refused": 1,
                   "registrations_pending": 1, "organisations_self_registered": 1}  # fmt: skip
    async with env.db.session() as s:
        assert (await monthly_figures(s, OTHER, month))["registrations_received"] == 1
        assert (await monthly_figures(s, HOME, "2020-01"))["registrations_received"] == 0
        assert await s.scalar(select(Organisation.id).where(Organisation.county == OTHER)) is None


async def test_migration_1000_makes_the_tables_the_models_declare() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            heads = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    finally:
        engine.dispose()
    assert [d for d in diff if "svc_" in repr(d) or "api_key_shops" in repr(d)] == []
    assert "1000" in heads


async def test_public_routes_are_rate_limited(env: ApiEnv) -> None:
    from cloud.web.ratelimit import Limiter, TokenBuckets

    env.app.state.resolver_limiter = Limiter(TokenBuckets(0.001, 2), ())
    for path in ("/api/v1/public/policies", "/api/v1/public/showcase"):
        assert (await env.client.get(path)).status_code == 200
    r = await env.client.post(P, json=body())
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert (await env.client.get("/h5/showcase")).status_code == 429
