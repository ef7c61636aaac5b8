"""County isolation and roles x endpoints for the trace routes (lots, EPCIS capture
and query): ``TRACE_CASES`` (isolation; tests/cloud/test_api_isolation.py runs them on
SQLite and PostgreSQL, for every role of a county) and ``TRACE_REQUESTS`` (one request
per route; tests/cloud/test_api_roles.py runs them for every role), with their
fixtures."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx
from sqlalchemy import select

from cloud.auth.principal import Principal, Role
from cloud.catalog.storage import Organisation
from cloud.db import utcnow
from cloud.trace.events import capture as capture_jobs
from cloud.trace.events.service import store_events
from cloud.trace.lots.storage import TraceLot
from tests.cloud.test_api_isolation_mobile import uscc
from tests.support.api import HOME, OTHER, ApiEnv
from tests.support.epcis import add_product, document, gtin, lot_uri, object_event

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
G = gtin(42)


def _not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert r.json()["detail"].endswith("not found"), r.text


async def _org(env: ApiEnv, county: str) -> int:
    """The trace tests' organisation of ``county`` (made once per database)."""
    name = f"trace co-op {county}"
    async with env.db.transaction() as s:
        found = await s.scalar(select(Organisation.id).where(Organisation.name == name))
        if found is not None:
            return int(found)
        org = Organisation(
            kind="cooperative", name=name, uscc=uscc(county, 4200 + int(county[-2:])),
            county=county, created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(org)
        await s.flush()
        return org.id


async def _lot(env: ApiEnv, county: str, number: str | None = None) -> str:
    """A registered lot of GTIN G in ``county`` (``number`` made once)."""
    number = number or f"X{secrets.token_hex(4)}"
    org = await _org(env, county)
    async with env.db.transaction() as s:
        found = await s.scalar(
            select(TraceLot.id).where(TraceLot.gtin == G, TraceLot.lot == number)
        )
        if found is None:
            s.add(TraceLot(gtin=G, lot=number, county=county, org_id=org, created_by="test"))
    return number


async def _event(env: ApiEnv, county: str) -> str:
    """An event stored in ``county`` (by its admin), naming a lot of that county."""
    lot = await _lot(env, county, f"E-{county}")
    principal = Principal("user", f"admin-{county}", Role.COUNTY_ADMIN, county)
    async with env.db.transaction() as s:
        (stored,) = await store_events(s, [object_event([lot_uri(G, lot)])], principal)
    return stored.event_id


async def _job(env: ApiEnv, county: str) -> str:
    principal = Principal("user", f"admin-{county}", Role.COUNTY_ADMIN, county)
    return (await capture_jobs.create_job(env.db, principal, "rollback", 0)).id


async def _wait_jobs(env: ApiEnv) -> None:
    import asyncio

    tasks = list(env.app.state.__dict__.get("capture_jobs", ()))
    if tasks:
        await asyncio.gather(*tasks)


# ---------------------------------------------------------------- isolation cases


async def lots_list(env: ApiEnv, h: Headers) -> None:
    await _lot(env, OTHER, "L-OTHER")
    for params in ({}, {"gtin": G, "lot": "L-OTHER"}):
        r = await env.client.get("/api/v1/trace/lots", params=params, headers=h)
        assert r.status_code == 200 and all(x["county"] == HOME for x in r.json()["items"])
        assert "L-OTHER" not in {x["lot"] for x in r.json()["items"]}
    r = await env.client.get("/api/v1/trace/lots", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def lot_get(env: ApiEnv, h: Headers) -> None:
    await _lot(env, OTHER, "L-OTHER")
    _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/L-OTHER", headers=h))
    _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/NO-SUCH", headers=h))


async def lot_create(env: ApiEnv, h: Headers) -> None:
    body = {"gtin": G, "lot": f"N{secrets.token_hex(3)}", "org_id": await _org(env, OTHER)}
    r = await env.client.post("/api/v1/trace/lots", json=body, headers=h)
    _not_found(r)  # another county's organisation is not found
    assert r.json()["field"] == "body.org_id"


async def capture_post(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER, "L-OTHER")
    doc = document(object_event([lot_uri(G, lot)], biz_step="shipping"))
    r = await env.client.post("/api/v1/epcis/capture", json=doc, headers=h)
    assert r.status_code == 202, r.text
    await _wait_jobs(env)
    job = (await env.client.get(r.headers["location"], headers=h)).json()
    assert job["success"] is False and job["eventIDs"] == [], job
    assert job["errors"][0]["status"] == 403
    assert job["errors"][0]["field"] == "epcisBody.eventList[0].quantityList[0].epcClass"


async def capture_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get(f"/api/v1/epcis/capture/{await _job(env, OTHER)}", headers=h))


async def events_query(env: ApiEnv, h: Headers) -> None:
    theirs = await _event(env, OTHER)
    for params in ({}, {"MATCH_anyEPCClass": lot_uri(G, f"E-{OTHER}")}, {"EQ_eventID": theirs}):
        r = await env.client.get("/api/v1/epcis/events", params=params, headers=h)
        assert r.status_code == 200, r.text
        events = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert theirs not in {e["eventID"] for e in events}


async def event_get(env: ApiEnv, h: Headers) -> None:
    theirs = await _event(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/epcis/events/{quote(theirs, safe='')}", headers=h))


TRACE_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/trace/lots"): lots_list,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}"): lot_get,
    ("POST", "/api/v1/trace/lots"): lot_create,
    ("POST", "/api/v1/epcis/capture"): capture_post,
    ("GET", "/api/v1/epcis/capture/{capture_id}"): capture_get,
    ("GET", "/api/v1/epcis/events"): events_query,
    ("GET", "/api/v1/epcis/events/{event_id}"): event_get,
}

# ---------------------------------------------------------------- roles x endpoints


async def _home_org(env: ApiEnv) -> int:
    from tests.cloud.test_api_roles import _home_org as home_org

    return await home_org(env)


async def _lot_create(env: ApiEnv, h: Headers) -> httpx.Response:
    org = await _home_org(env)
    await add_product(env, G, await _org(env, HOME), HOME)
    body = {"gtin": G, "lot": f"R{secrets.token_hex(4)}", "org_id": org}
    return await env.client.post("/api/v1/trace/lots", json=body, headers=h)


async def _lot_read(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(
        f"/api/v1/trace/lots/{G}/{await _lot(env, HOME, 'R-HOME')}", headers=h
    )


async def _capture(env: ApiEnv, h: Headers) -> httpx.Response:
    doc = document(
        object_event([f"https://id.example.com/01/09506000134352/10/{secrets.token_hex(3)}"])
    )
    return await env.client.post("/api/v1/epcis/capture", json=doc, headers=h)


async def _job_read(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(f"/api/v1/epcis/capture/{await _job(env, HOME)}", headers=h)


async def _event_read(env: ApiEnv, h: Headers) -> httpx.Response:
    event_id = await _event(env, HOME)
    return await env.client.get(f"/api/v1/epcis/events/{quote(event_id, safe='')}", headers=h)


TRACE_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("POST", "/api/v1/trace/lots"): _lot_create,
    ("GET", "/api/v1/trace/lots"): lambda e, h: e.client.get("/api/v1/trace/lots", headers=h),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}"): _lot_read,
    ("POST", "/api/v1/epcis/capture"): _capture,
    ("GET", "/api/v1/epcis/capture/{capture_id}"): _job_read,
    ("GET", "/api/v1/epcis/events"): lambda e, h: e.client.get("/api/v1/epcis/events", headers=h),
    ("GET", "/api/v1/epcis/events/{event_id}"): _event_read,
}
