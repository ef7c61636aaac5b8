"""cloud/trace/certificates: 三品一标 certificates (fields, holder USCC, coverage,
validity at each event's time, scans) and 承诺达标合格证 (issue, defaults, required
categories, derived lots, flags, printing, retention); on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.auth.principal import Principal, Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.trace.certificates import commitment
from cloud.trace.certificates.kinds import beijing_date, retain_until, valid_at
from cloud.trace.events.service import store_events
from cloud.trace.lots.storage import TraceLot
from tests.cloud.test_api_isolation_mobile import uscc
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import gtin, lot_uri, object_event
from tests.support.trace_records import Org, add_base, add_lot, add_org, add_product

COFFEE = gtin(501)
MANGO = gtin(502)
THEIRS = gtin(503)  # a product of the other county
PDF = b"%PDF-1.7\n" + b"x" * 200 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        e.settings.filestore_dir = tmp_path / "files"
        e.settings.certificate_scan_max_bytes = 4096
        yield e


def test_validity_is_by_beijing_date_both_days_included() -> None:
    class Cert:
        valid_from = date(2026, 1, 1)
        valid_to = date(2027, 12, 31)

    bj = datetime.fromisoformat
    assert valid_at(Cert, bj("2027-12-31T23:59:59+08:00"))
    assert not valid_at(Cert, bj("2028-01-01T00:00:00+08:00"))
    assert not valid_at(Cert, bj("2027-12-31T16:00:00+00:00"))  # 00:00 in Beijing
    assert valid_at(Cert, bj("2025-12-31T16:00:00Z"))  # 2026-01-01 00:00 in Beijing
    assert not valid_at(Cert, bj("2025-12-31T15:59:59Z"))
    with pytest.raises(ValueError, match="naive"):
        valid_at(Cert, datetime(2026, 6, 1))
    assert retain_until(bj("2026-12-04T06:00:00+08:00")) == date(2028, 12, 4)
    assert retain_until(bj("2028-02-29T12:00:00+08:00")) == date(2030, 2, 28)


async def _operator(env: ApiEnv, org: Org) -> dict[str, str]:
    """An operator of ``org`` (an organisation role: writes only its own records)."""
    user = await env.add_user(f"op-{org.id}-{utcnow().timestamp()}", Role.OPERATOR, org.county)
    async with env.db.transaction() as s:
        row = await s.get_one(User, user.id)
        row.org_id = str(org.id)
    token, _ = issue_token(row, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


def _cert(org: Org, number: str, **change: Any) -> dict[str, Any]:
    today = beijing_date(utcnow())
    body = {
        "type": "green_food", "number": number, "holder_uscc": org.uscc,
        "products": [COFFEE], "valid_from": str(today - timedelta(days=10)),
        "valid_to": str(today + timedelta(days=10)), "issuer": "中国绿色食品发展中心",
    }  # fmt: skip
    body.update(change)
    return body


async def _store(env: ApiEnv, county: str, *events: dict[str, Any]) -> list[str]:
    principal = Principal("user", "admin", Role.COUNTY_ADMIN, county)
    async with env.db.transaction() as s:
        return [x.event_id for x in await store_events(s, list(events), principal)]


def _local(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_certificates_are_registered_and_cover_lots_at_each_events_time(
    env: ApiEnv,
) -> None:
    org, other = await add_org(env, HOME, 1), await add_org(env, OTHER, 2)
    await add_product(env, org, COFFEE, "coffee", "芒市小粒咖啡")
    await add_product(env, other, THEIRS, "coffee", "陇川咖啡")
    base = await add_base(env, org, "芒市咖啡基地")
    their_base = await add_base(env, other, "陇川基地")
    await add_lot(env, org, COFFEE, "C1", base_id=base)
    await add_lot(env, org, COFFEE, "C2")  # from no base
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    today = beijing_date(utcnow())

    r = await env.client.post("/api/v1/trace/certificates", json=_cert(org, "LB-01"), headers=h)
    assert r.status_code == 201, r.text
    green = r.json()
    assert green["county"] == HOME and green["holder_org_id"] == org.id and green["valid"]
    assert green["holder_name"] == f"德宏合作社 {HOME}-1" and green["type_zh"] == "绿色食品"
    assert green["products"] == [COFFEE] and green["scan"] is None
    # a GI held by an association that is not registered: covers the base's lots
    gi = _cert(org, "AGI-0001", type="geographical_indication", holder_uscc=uscc(HOME, 9999),
               holder_name="芒市咖啡协会", products=[], base_ids=[base])  # fmt: skip
    r = await env.client.post("/api/v1/trace/certificates", json=gi, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["county"] == HOME and r.json()["holder_org_id"] is None
    gi_id = r.json()["id"]
    # an organic certificate that expired 3 days ago
    old = _cert(org, "ORG-7", type="organic", valid_from=str(today - timedelta(days=400)),
                valid_to=str(today - timedelta(days=3)))  # fmt: skip
    r = await env.client.post("/api/v1/trace/certificates", json=old, headers=h)
    assert r.status_code == 201 and r.json()["valid"] is False
    organic_id = r.json()["id"]

    # bad input names the field
    bad_uscc = org.uscc[:-1] + ("0" if org.uscc[-1] != "0" else "1")
    for change, field, status in (
        ({"holder_uscc": bad_uscc}, "body.holder_uscc", 422),
        ({"holder_uscc": "123"}, "body.holder_uscc", 422),
        ({"valid_to": str(today - timedelta(days=11))}, "body.valid_to", 422),
        ({"type": "green"}, "body.type", 422),
        ({"products": [], "base_ids": []}, "body.products", 422),
        ({"products": [COFFEE[:-1] + "0" if COFFEE[-1] != "0" else "1"]}, "body.products.0", 422),
        ({"products": [THEIRS]}, "body.products[0]", 422),
        ({"base_ids": [their_base]}, "body.base_ids[0]", 422),
        ({"holder_uscc": uscc(HOME, 8888)}, "body.holder_name", 422),
        ({"county": OTHER}, "body.county", 422),
        ({"issuer": "  "}, "body.issuer", 422),
        ({"number": "LB-01"}, "body.number", 409),
    ):
        body = {**_cert(org, "NEW-1"), **change}
        r = await env.client.post("/api/v1/trace/certificates", json=body, headers=h)
        assert r.status_code == status and r.json().get("field") == field, (change, r.text)
    r = await env.client.post("/api/v1/trace/certificates", json=_cert(org, "X", type="green"),
                              headers=h)  # fmt: skip
    assert "unknown certificate type 'green'" in r.json()["detail"]
    r = await env.client.post("/api/v1/trace/certificates", json=_cert(org, "X", holder_uscc=bad_uscc),
                              headers=h)  # fmt: skip
    assert "check character" in r.json()["detail"]
    # a holder of another county is that county's to certify
    r = await env.client.post("/api/v1/trace/certificates", json=_cert(other, "Y"), headers=h)
    assert r.status_code == 403 and r.json()["field"] == "body.holder_uscc"

    # lists and filters
    r = await env.client.get("/api/v1/trace/certificates", headers=h)
    assert [c["number"] for c in r.json()["items"]] == ["LB-01", "AGI-0001", "ORG-7"]
    for params, numbers in (
        ({"type": "organic"}, ["ORG-7"]),
        ({"gtin": COFFEE[1:]}, ["LB-01", "ORG-7"]),
        ({"valid_on": str(today)}, ["LB-01", "AGI-0001"]),
        ({"holder_uscc": org.uscc}, ["LB-01", "ORG-7"]),
        ({"limit": 1}, ["LB-01"]),
    ):
        r = await env.client.get("/api/v1/trace/certificates", params=params, headers=h)
        assert [c["number"] for c in r.json()["items"]] == numbers, params
    for params, field in (({"type": "x"}, "query.type"), ({"holder_uscc": "x"}, "query.holder_uscc"),
                          ({"gtin": "123"}, "query.gtin")):  # fmt: skip
        r = await env.client.get("/api/v1/trace/certificates", params=params, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field
    r = await env.client.get(f"/api/v1/trace/certificates/{organic_id}", headers=h,
                             params={"at": _local(utcnow() - timedelta(days=5))})  # fmt: skip
    assert r.json()["valid"] is True  # valid back then
    r = await env.client.get(f"/api/v1/trace/certificates/{organic_id}", headers=h,
                             params={"at": "2026-11-01T08:00:00"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "query.at"

    # each of the lot's events, judged at its own time
    now = utcnow()
    before, recent = now - timedelta(days=5), now - timedelta(minutes=1)
    old_event, new_event = await _store(
        env, HOME,
        object_event([lot_uri(COFFEE, "C1")], time=_local(before), biz_step="storing"),
        object_event([lot_uri(COFFEE, "C1")], time=_local(recent), biz_step="shipping"),
    )  # fmt: skip
    r = await env.client.get(f"/api/v1/trace/lots/{COFFEE}/C1/certificates", headers=h)
    assert r.status_code == 200, r.text
    got = r.json()
    assert {c["number"]: c["valid"] for c in got["certificates"]} == {
        "LB-01": True, "AGI-0001": True, "ORG-7": False,
    }  # fmt: skip
    by_event = {e["event_id"]: set(e["valid_certificates"]) for e in got["events"]}
    assert by_event[old_event] == {green["id"], gi_id, organic_id}
    assert by_event[new_event] == {green["id"], gi_id}
    r = await env.client.get(f"/api/v1/trace/lots/{COFFEE}/C2/certificates", headers=h)
    assert [c["number"] for c in r.json()["certificates"]] == ["LB-01", "ORG-7"]  # no base: no GI
    # organisation roles register certificates their organisation holds, nothing else
    op = await _operator(env, org)
    r = await env.client.post("/api/v1/trace/certificates", json=_cert(org, "OP-1"), headers=op)
    assert r.status_code == 201, r.text
    unregistered = _cert(org, "OP-2", holder_uscc=uscc(HOME, 9998), holder_name="某协会")
    r = await env.client.post("/api/v1/trace/certificates", json=unregistered, headers=op)
    assert r.status_code == 403
    audit = (await env.client.get("/api/v1/audit", headers=h)).json()
    assert sum(e["action"] == "certificate.created" for e in audit) == 4


async def test_certificate_scans_are_checked_stored_and_served_to_readers_only(
    env: ApiEnv,
) -> None:
    org, someone = await add_org(env, HOME, 1), await add_org(env, HOME, 3)
    await add_product(env, org, COFFEE, "coffee", "芒市小粒咖啡")
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post("/api/v1/trace/certificates", json=_cert(org, "S-1"), headers=h)
    cid = r.json()["id"]
    url = f"/api/v1/trace/certificates/{cid}/scan"
    r = await env.client.get(url, headers=h)
    assert r.status_code == 404 and "no scan" in r.json()["detail"]
    for content, ctype, status, field in (
        (PDF, "text/plain", 415, "header.Content-Type"),
        (PDF, None, 415, "header.Content-Type"),
        (PDF, "image/png", 422, "body"),
        (b"hello", "application/pdf", 422, "body"),
        (b"", "application/pdf", 422, "body"),
        (b"%PDF-" + b"x" * 5000, "application/pdf", 413, "body"),
    ):
        headers = {**h, **({"Content-Type": ctype} if ctype else {})}
        r = await env.client.put(url, content=content, headers=headers)
        assert r.status_code == status and r.json()["field"] == field, (ctype, r.text)
    r = await env.client.put(url, content=PDF, headers={**h, "Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    scan = r.json()["scan"]
    assert scan["sha256"] == hashlib.sha256(PDF).hexdigest() and scan["size"] == len(PDF)
    assert scan["content_type"] == "application/pdf" and scan["url"] == url
    r = await env.client.get(url, headers=h)
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in r.headers["cache-control"]
    assert (env.settings.filestore_dir / scan["sha256"][:2] / scan["sha256"]).read_bytes() == PDF
    # replaced by a PNG; the audit log names both
    r = await env.client.put(url, content=PNG, headers={**h, "Content-Type": "image/png"})
    assert r.status_code == 200 and r.json()["scan"]["content_type"] == "image/png"
    r = await env.client.get(url, headers=h)
    assert r.content == PNG and r.headers["content-type"] == "image/png"
    audit = (await env.client.get("/api/v1/audit", headers=h)).json()
    uploads = [e for e in audit if e["action"] == "certificate.scan_uploaded"]
    assert uploads[0]["detail"]["replaced_sha256"] == scan["sha256"]
    # readers of the county read it; no credentials, or another organisation, may not
    display = await env.headers(Role.DISPLAY, HOME)
    assert (await env.client.get(url, headers=display)).status_code == 200
    assert (await env.client.get(url)).status_code == 401
    r = await env.client.put(url, content=PDF, headers={**await _operator(env, someone),
                                                         "Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 403
    r = await env.client.put(url, content=PDF,
                             headers={**display, "Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 403


async def test_commitment_certificates_are_issued_per_lot_and_kept(env: ApiEnv) -> None:
    org, other_org = await add_org(env, HOME, 1), await add_org(env, HOME, 4, phone=None)
    await add_product(env, org, MANGO, "fruit_mango", "芒市芒果")
    await add_product(env, org, COFFEE, "coffee", "芒市小粒咖啡")
    base = await add_base(env, org, "遮放芒果园")
    await add_lot(env, org, MANGO, "M1", base_id=base)
    await add_lot(env, org, MANGO, "M2", base_id=base)
    await add_lot(env, org, COFFEE, "K1", base_id=base)
    await add_lot(env, org, MANGO, "M3", parents=((MANGO, "M1"), (MANGO, "M2")))  # merged
    await add_lot(env, other_org, MANGO, "NQ", quantity=None, unit=None)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    now = utcnow()
    t_ship1, t_issue, t_ship2 = (now - timedelta(hours=h_) for h_ in (5, 4, 3))
    shipped_early, _shipped_late, _split = await _store(
        env, HOME,
        object_event([lot_uri(MANGO, "M1")], time=_local(t_ship1), biz_step="shipping"),
        object_event([lot_uri(MANGO, "M1")], time=_local(t_ship2), biz_step="shipping"),
        {"type": "TransformationEvent", "eventTime": _local(t_ship2),
         "eventTimeZoneOffset": "+08:00",
         "inputQuantityList": [{"epcClass": lot_uri(MANGO, "M2"), "quantity": 10, "uom": "KGM"}],
         "outputQuantityList": [{"epcClass": lot_uri(MANGO, "NQ"), "quantity": 10, "uom": "KGM"}],
         "bizStep": "commissioning"},
    )  # fmt: skip
    base_url = f"/api/v1/trace/lots/{MANGO}"

    r = await env.client.get(f"{base_url}/M1/commitment-certificates", headers=h)
    got = r.json()
    assert got["required"] is True and got["category"] == "fruit_mango" and not got["derived"]
    assert {f["event_id"] for f in got["flags"]} == {shipped_early, _shipped_late}

    body = {"basis": "self_test", "basis_ref": "速测报告 2026-118", "issued_at": _local(t_issue)}
    r = await env.client.post(f"{base_url}/M1/commitment-certificates", json=body, headers=h)
    assert r.status_code == 201, r.text
    cert = r.json()
    issued_day = beijing_date(t_issue)
    assert re.fullmatch(rf"HGZ-{HOME}-{issued_day:%Y%m%d}-\d{{6}}", cert["number"])
    assert cert["product_name"] == "芒市芒果" and cert["quantity"] == "1200.000000"
    assert cert["unit"] == "KGM" and cert["origin"] == "遮放芒果园"
    assert cert["contact"] == "0692-1234567" and cert["org_uscc"] == org.uscc
    assert cert["basis_zh"] == "自我检测" and cert["retain_until"] == str(retain_until(t_issue))
    # the shipment after the certificate is no longer flagged; the one before still is
    got = (await env.client.get(f"{base_url}/M1/commitment-certificates", headers=h)).json()
    assert [f["event_id"] for f in got["flags"]] == [shipped_early]
    assert [c["number"] for c in got["certificates"]] == [cert["number"]]

    # merged (registered parents) and split (a transformation's output): their own only
    for lot in ("M3", "NQ"):
        got = (await env.client.get(f"{base_url}/{lot}/commitment-certificates", headers=h)).json()
        assert got["derived"] is True and got["certificates"] == [], lot
        assert "its parents'" in got["detail"]
    async with env.db.session() as s:
        lots = {x.lot: x for x in await s.scalars(select(TraceLot))}
        m1, m3, k1 = lots["M1"], lots["M3"], lots["K1"]
        await commitment.require_certificate(s, m1, now)
        with pytest.raises(ApiError) as refused:
            await commitment.require_certificate(s, m3, now)
        assert refused.value.status_code == 422 and "of its own" in refused.value.detail
        with pytest.raises(ApiError):
            await commitment.require_certificate(s, m1, t_ship1)  # not yet issued then
        await commitment.require_certificate(s, k1, now)  # coffee: not required

    # coffee: allowed, not required
    got = (await env.client.get(f"/api/v1/trace/lots/{COFFEE}/K1/commitment-certificates",
                                headers=h)).json()  # fmt: skip
    assert got["required"] is False and "allowed" in got["detail"]
    r = await env.client.post(f"/api/v1/trace/lots/{COFFEE}/K1/commitment-certificates",
                              json={"basis": "internal_qc", "quantity": "50.5", "unit": "KGM",
                                    "contact": "13800000000"}, headers=h)  # fmt: skip
    assert r.status_code == 201 and r.json()["quantity"] == "50.500000"

    # bad input names the field
    for lot, change, field in (
        ("M1", {"basis": "promise"}, "body.basis"),
        ("M1", {"issued_at": _local(now + timedelta(days=1))}, "body.issued_at"),
        ("M1", {"issued_at": "2026-11-01T08:00:00"}, "body.issued_at"),
        ("M1", {"unit": "kilo"}, "body.unit"),
        ("M1", {"quantity": "0"}, "body.quantity"),
        ("M1", {"contact": ""}, "body.contact"),
        ("NQ", {}, "body.quantity"),  # no registered quantity
        ("NQ", {"quantity": "5", "unit": "KGM", "origin": "芒市"}, "body.contact"),  # no phone
    ):
        r = await env.client.post(f"{base_url}/{lot}/commitment-certificates",
                                  json={"basis": "self_test", **change}, headers=h)  # fmt: skip
        assert r.status_code == 422 and r.json()["field"] == field, (change, r.text)

    # JSON and the printable page (Chinese first); no delete: records are kept
    one = f"/api/v1/trace/commitment-certificates/{cert['id']}"
    r = await env.client.get(one, headers=h)
    assert r.status_code == 200 and r.json()["number"] == cert["number"]
    r = await env.client.get(f"{one}/print", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert page.index("承诺达标合格证") < page.index("Commitment certificate")
    assert cert["number"] in page and "☑ 自我检测" in page and "☐ 委托检测" in page
    assert "1200 千克" in page and "速测报告 2026-118" in page and "遮放芒果园" in page
    assert (await env.client.delete(one, headers=h)).status_code == 405
    # organisation roles issue for their own organisation's lots only
    op = await _operator(env, other_org)
    r = await env.client.post(f"{base_url}/M1/commitment-certificates",
                              json={"basis": "self_test"}, headers=op)  # fmt: skip
    assert r.status_code == 403
    audit = (await env.client.get("/api/v1/audit", headers=h)).json()
    assert sum(e["action"] == "commitment_certificate.issued" for e in audit) == 2


MY_TABLES = ("trace_certificate", "trace_commitment", "trace_test_results", "trace_brand")


async def test_migrations_0430_to_0432_make_the_tables_the_models_declare() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            seeded = conn.exec_driver_sql("SELECT version FROM trace_brand_rulesets").all()
    finally:
        engine.dispose()
    mine = [d for d in diff if any(t in repr(d) for t in MY_TABLES)]
    assert mine == []
    assert seeded == [(1,)]
