"""County isolation and roles x endpoints for the certificate, 合格证, test result,
brand and recall routes: ``CERTS_CASES`` (tests/cloud/test_api_isolation.py runs them
on SQLite and PostgreSQL for every role of a county) and ``CERTS_REQUESTS`` (one
request per route; tests/cloud/test_api_roles.py runs them for every role)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.db import utcnow
from cloud.trace.brand.storage import BrandDecision, BrandRuleset
from cloud.trace.certificates.kinds import beijing_date
from cloud.trace.certificates.storage import TraceCertificate, TraceCommitmentCertificate
from cloud.trace.lots.storage import TraceLot
from tests.cloud.test_api_isolation_mobile import uscc
from tests.support.api import HOME, OTHER, ApiEnv
from tests.support.epcis import gtin
from tests.support.trace_records import Org, add_lot, add_org

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
G = gtin(43)
PDF = b"%PDF-1.7\n%%EOF\n"


def _not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert r.json()["detail"].endswith("not found"), r.text


async def _org(env: ApiEnv, county: str) -> Org:
    return await add_org(env, county, 430 + int(county[-2:]))


async def _lot(env: ApiEnv, county: str) -> str:
    """The lot C-{county} of GTIN G (made once per database)."""
    number = f"C-{county}"
    async with env.db.session() as s:
        found = await s.scalar(
            select(TraceLot.id).where(TraceLot.gtin == G, TraceLot.lot == number)
        )
    if found is None:
        await add_lot(env, await _org(env, county), G, number)
    return number


async def _certificate(env: ApiEnv, county: str) -> int:
    """A green food certificate of ``county`` with a scan (made once per database)."""
    org = await _org(env, county)
    async with env.db.transaction() as s:
        found = await s.scalar(
            select(TraceCertificate.id).where(TraceCertificate.number == f"ISO-{county}")
        )
        if found is not None:
            return int(found)
        today = beijing_date(utcnow())
        cert = TraceCertificate(
            type="green_food", number=f"ISO-{county}", holder_uscc=org.uscc,
            holder_org_id=org.id, holder_name="co-op", county=county,
            valid_from=today - timedelta(days=1), valid_to=today + timedelta(days=1),
            issuer="中国绿色食品发展中心", created_by="test",
            scan_sha256="0" * 64, scan_content_type="application/pdf", scan_size=1,
            scan_uploaded_at=utcnow(),
        )  # fmt: skip
        s.add(cert)
        await s.flush()
        return cert.id


async def _commitment(env: ApiEnv, county: str) -> int:
    lot_number = await _lot(env, county)
    org = await _org(env, county)
    async with env.db.transaction() as s:
        found = await s.scalar(
            select(TraceCommitmentCertificate.id).where(TraceCommitmentCertificate.county == county)
        )
        if found is not None:
            return int(found)
        lot = await s.scalar(select(TraceLot).where(TraceLot.gtin == G, TraceLot.lot == lot_number))
        assert lot is not None
        now = utcnow()
        cert = TraceCommitmentCertificate(
            number=f"HGZ-{county}-ISO", lot_id=lot.id, gtin=G, lot=lot_number, county=county,
            org_id=org.id, product_name="咖啡", quantity=1, unit="KGM", origin="芒市",
            contact="0692", basis="self_test", issued_at=now, retain_until=now.date(),
            created_by="test",
        )  # fmt: skip
        s.add(cert)
        await s.flush()
        return cert.id


async def _count(env: ApiEnv, model: Any, *where: Any) -> int:
    async with env.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# ---------------------------------------------------------------- isolation cases


async def certificates_list(env: ApiEnv, h: Headers) -> None:
    await _certificate(env, OTHER)
    r = await env.client.get("/api/v1/trace/certificates", headers=h)
    assert r.status_code == 200 and all(c["county"] == HOME for c in r.json()["items"])
    r = await env.client.get("/api/v1/trace/certificates", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def certificate_create(env: ApiEnv, h: Headers) -> None:
    other = await _org(env, OTHER)
    before = await _count(env, TraceCertificate)
    today = beijing_date(utcnow())
    body = {"type": "organic", "number": f"N{secrets.token_hex(3)}", "holder_uscc": other.uscc,
            "products": [G], "valid_from": str(today), "valid_to": str(today),
            "issuer": "x"}  # fmt: skip
    r = await env.client.post("/api/v1/trace/certificates", json=body, headers=h)
    assert r.status_code == 403, r.text  # the holder is another county's organisation
    unregistered = {**body, "holder_uscc": uscc(OTHER, 4399), "holder_name": "x", "county": OTHER}
    r = await env.client.post("/api/v1/trace/certificates", json=unregistered, headers=h)
    assert r.status_code == 403, r.text
    assert await _count(env, TraceCertificate) == before


async def certificate_get(env: ApiEnv, h: Headers) -> None:
    cid = await _certificate(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/certificates/{cid}", headers=h))
    _not_found(await env.client.get("/api/v1/trace/certificates/999999", headers=h))


async def scan_put(env: ApiEnv, h: Headers) -> None:
    cid = await _certificate(env, OTHER)
    r = await env.client.put(f"/api/v1/trace/certificates/{cid}/scan", content=PDF,
                             headers={**h, "Content-Type": "application/pdf"})  # fmt: skip
    _not_found(r)


async def scan_get(env: ApiEnv, h: Headers) -> None:
    cid = await _certificate(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/certificates/{cid}/scan", headers=h))


def _lot_get(suffix: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        lot = await _lot(env, OTHER)
        _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/{lot}/{suffix}", headers=h))
        _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/NOPE/{suffix}", headers=h))

    return case


async def commitment_issue(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER)
    before = await _count(env, TraceCommitmentCertificate)
    r = await env.client.post(f"/api/v1/trace/lots/{G}/{lot}/commitment-certificates",
                              json={"basis": "self_test"}, headers=h)  # fmt: skip
    _not_found(r)
    assert await _count(env, TraceCommitmentCertificate) == before


async def commitment_get(env: ApiEnv, h: Headers) -> None:
    cid = await _commitment(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/commitment-certificates/{cid}", headers=h))


async def commitment_print(env: ApiEnv, h: Headers) -> None:
    cid = await _commitment(env, OTHER)
    r = await env.client.get(f"/api/v1/trace/commitment-certificates/{cid}/print", headers=h)
    _not_found(r)


async def tests_post(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER)
    r = await env.client.post(f"/api/v1/trace/lots/{G}/{lot}/tests", headers=h,
                              json={"results": [{"test": "moisture", "passed": True}]})  # fmt: skip
    _not_found(r)


async def rules_get(env: ApiEnv, h: Headers) -> None:
    # one rule set for the prefecture's brand: nothing of a county in it
    r = await env.client.get("/api/v1/trace/brand/rules", headers=h)
    assert r.status_code == 200 and r.json()["version"] >= 1


async def rules_put(env: ApiEnv, h: Headers) -> None:
    before = await _count(env, BrandRuleset)
    r = await env.client.put("/api/v1/trace/brand/rules", headers=h,
                             json={"rules": [{"kind": "commitment_certificate"}]})  # fmt: skip
    assert r.status_code == 403  # the prefecture's
    assert await _count(env, BrandRuleset) == before


async def sweep_post(env: ApiEnv, h: Headers) -> None:
    lot_number = await _lot(env, OTHER)
    async with env.db.transaction() as s:
        lot = await s.scalar(select(TraceLot).where(TraceLot.gtin == G, TraceLot.lot == lot_number))
        assert lot is not None
        s.add(BrandDecision(lot_id=lot.id, county=OTHER, granted=True, ruleset_version=1,
                            states=[], reason="every rule met", trigger="read"))  # fmt: skip
    before = await _count(env, BrandDecision, BrandDecision.county == OTHER)
    r = await env.client.post("/api/v1/trace/brand/sweep", headers=h)
    assert r.status_code in (200, 403), r.text
    assert await _count(env, BrandDecision, BrandDecision.county == OTHER) == before


CERTS_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/trace/certificates"): certificates_list,
    ("POST", "/api/v1/trace/certificates"): certificate_create,
    ("GET", "/api/v1/trace/certificates/{certificate_id}"): certificate_get,
    ("PUT", "/api/v1/trace/certificates/{certificate_id}/scan"): scan_put,
    ("GET", "/api/v1/trace/certificates/{certificate_id}/scan"): scan_get,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/certificates"): _lot_get("certificates"),
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/commitment-certificates"): commitment_issue,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/commitment-certificates"): _lot_get(
        "commitment-certificates"
    ),
    ("GET", "/api/v1/trace/commitment-certificates/{certificate_id}"): commitment_get,
    ("GET", "/api/v1/trace/commitment-certificates/{certificate_id}/print"): commitment_print,
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/tests"): tests_post,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/tests"): _lot_get("tests"),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/inspections"): _lot_get("inspections"),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/brand"): _lot_get("brand"),
    ("GET", "/api/v1/trace/brand/rules"): rules_get,
    ("PUT", "/api/v1/trace/brand/rules"): rules_put,
    ("POST", "/api/v1/trace/brand/sweep"): sweep_post,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/forward"): _lot_get("forward"),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/backward"): _lot_get("backward"),
}

# ---------------------------------------------------------------- roles x endpoints


async def _home_org(env: ApiEnv) -> Org:
    """The organisation the roles test gives its organisation roles."""
    from cloud.catalog.storage import Organisation
    from tests.cloud.test_api_roles import _home_org as home_org_id

    org_id = await home_org_id(env)
    async with env.db.session() as s:
        org = await s.get_one(Organisation, org_id)
        return Org(org.id, org.uscc, org.county)


async def _home_lot(env: ApiEnv) -> str:
    """A lot of the roles test's organisation (made once per database)."""
    number = "R-CERTS"
    async with env.db.session() as s:
        found = await s.scalar(
            select(TraceLot.id).where(TraceLot.gtin == G, TraceLot.lot == number)
        )
    if found is None:
        await add_lot(env, await _home_org(env), G, number)
    return number


async def _home_certificate(env: ApiEnv) -> int:
    org = await _home_org(env)
    async with env.db.transaction() as s:
        found = await s.scalar(select(TraceCertificate.id).where(TraceCertificate.number == "R-1"))
        if found is not None:
            return int(found)
        today = beijing_date(utcnow())
        cert = TraceCertificate(
            type="organic", number="R-1", holder_uscc=org.uscc, holder_org_id=org.id,
            holder_name="co-op", county=HOME, valid_from=today, valid_to=today,
            issuer="x", created_by="test",
        )  # fmt: skip
        s.add(cert)
        await s.flush()
        return cert.id


async def _create_certificate(env: ApiEnv, h: Headers) -> httpx.Response:
    org = await _home_org(env)
    today = beijing_date(utcnow())
    body = {"type": "organic", "number": f"R{secrets.token_hex(4)}", "holder_uscc": org.uscc,
            "products": [G], "valid_from": str(today), "valid_to": str(today), "issuer": "x"}  # fmt: skip
    return await env.client.post("/api/v1/trace/certificates", json=body, headers=h)


async def _put_scan(env: ApiEnv, h: Headers) -> httpx.Response:
    cid = await _home_certificate(env)
    # a bad file: 422 for whoever may write, 403 for the others
    return await env.client.put(f"/api/v1/trace/certificates/{cid}/scan", content=b"x",
                                headers={**h, "Content-Type": "application/pdf"})  # fmt: skip


async def _get_scan(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(
        f"/api/v1/trace/certificates/{await _home_certificate(env)}/scan", headers=h
    )


def _on_lot(
    method: str, suffix: str, json: Any = None
) -> Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        url = f"/api/v1/trace/lots/{G}/{await _home_lot(env)}/{suffix}"
        return await env.client.request(method, url, json=json, headers=h)

    return call


async def _commitment_read(env: ApiEnv, h: Headers, suffix: str = "") -> httpx.Response:
    cid = await _commitment(env, HOME)
    return await env.client.get(f"/api/v1/trace/commitment-certificates/{cid}{suffix}", headers=h)


CERTS_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("GET", "/api/v1/trace/certificates"): lambda e, h: e.client.get(
        "/api/v1/trace/certificates", headers=h
    ),
    ("POST", "/api/v1/trace/certificates"): _create_certificate,
    ("GET", "/api/v1/trace/certificates/{certificate_id}"): lambda e, h: _get_cert(e, h),
    ("PUT", "/api/v1/trace/certificates/{certificate_id}/scan"): _put_scan,
    ("GET", "/api/v1/trace/certificates/{certificate_id}/scan"): _get_scan,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/certificates"): _on_lot("GET", "certificates"),
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/commitment-certificates"): _on_lot(
        "POST",
        "commitment-certificates",
        {"basis": "self_test", "origin": "芒市", "contact": "0692", "product_name": "咖啡"},
    ),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/commitment-certificates"): _on_lot(
        "GET", "commitment-certificates"
    ),
    ("GET", "/api/v1/trace/commitment-certificates/{certificate_id}"): _commitment_read,
    ("GET", "/api/v1/trace/commitment-certificates/{certificate_id}/print"): lambda e, h: (
        _commitment_read(e, h, "/print")
    ),
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/tests"): _on_lot(
        "POST", "tests", {"results": [{"test": "moisture", "passed": True}]}
    ),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/tests"): _on_lot("GET", "tests"),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/inspections"): _on_lot("GET", "inspections"),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/brand"): _on_lot("GET", "brand"),
    ("GET", "/api/v1/trace/brand/rules"): lambda e, h: e.client.get(
        "/api/v1/trace/brand/rules", headers=h
    ),
    # an empty rule set: 422 for whoever holds the permission (the scope, the
    # prefecture, is tested in tests/cloud/test_trace_brand.py), 403 for the others
    ("PUT", "/api/v1/trace/brand/rules"): lambda e, h: e.client.put(
        "/api/v1/trace/brand/rules", json={"rules": []}, headers=h
    ),
    ("POST", "/api/v1/trace/brand/sweep"): lambda e, h: e.client.post(
        "/api/v1/trace/brand/sweep", headers=h
    ),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/forward"): _on_lot("GET", "forward"),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/backward"): _on_lot("GET", "backward"),
}


async def _get_cert(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(
        f"/api/v1/trace/certificates/{await _home_certificate(env)}", headers=h
    )


# ---------------------------------------------------------------- pagination (test_pagination)


async def seed_paged(s: Any, county: str, i: int, org_id: int, lot_gtin: str, lot: str) -> None:
    """Row ``i`` of the certificate and test-result lists for tests/cloud/test_pagination.py:
    a certificate of ``county``, and one test result (an inspecting event of its own)
    of the lot ``lot``."""
    from datetime import date

    from cloud.trace.events.storage import TraceEvent, TraceEventObject
    from cloud.trace.results.storage import TraceTestResult

    s.add(
        TraceCertificate(
            type="organic", number=f"P-{county}-{i}", holder_uscc=uscc(county, i),
            holder_org_id=org_id, holder_name="co-op", county=county,
            valid_from=date(2026, 1, 1), valid_to=date(2027, 1, 1), issuer="x",
            created_by="test",
        )
    )  # fmt: skip
    now = utcnow()
    event = TraceEvent(
        event_id=f"urn:uuid:paged-{county}-{i}", event_type="ObjectEvent", event_time=now,
        event_tz_offset="+08:00", county=county, action="OBSERVE", biz_step="inspecting",
        body={}, created_by="test",
    )  # fmt: skip
    s.add(event)
    await s.flush()
    s.add(TraceEventObject(event_seq=event.seq, role="quantity", uri=f"lot:{lot}",
                           gtin=lot_gtin, lot=lot))  # fmt: skip
    s.add(
        TraceTestResult(
            event_seq=event.seq, event_id=event.event_id, position=0, county=county,
            tested_at=now, test="moisture", value=11.0 + i, limit_max=12.5, passed=True,
        )
    )  # fmt: skip
