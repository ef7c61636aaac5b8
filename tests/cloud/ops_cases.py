"""County isolation and roles x endpoints for our own trace operations
(``POST /api/v1/trace/ops/{step}``): ``OPS_CASES`` (tests/cloud/test_api_isolation.py,
every role of a county, SQLite and PostgreSQL: another county's lot, organisation or
location is 404 naming the field, and nothing is stored) and ``OPS_REQUESTS``
(tests/cloud/test_api_roles.py, every role: a write into the roles table's HOME
organisation)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.catalog.storage import Location
from cloud.trace.events.storage import TraceEvent
from tests.cloud.custody_cases import _home_lot
from tests.cloud.trace_cases import G, _lot, _org
from tests.support.api import HOME, OTHER, ApiEnv
from tests.support.epcis import add_product, gln, sscc

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
OPS = "/api/v1/trace/ops"
STEPS = ("harvest", "process", "pack", "test", "store", "load", "receive", "sell")


def _kind(step: str) -> str:
    """The kind of location the step puts items in (load: a vehicle compartment)."""
    return "vehicle_compartment" if step == "load" else "warehouse"


async def _location(env: ApiEnv, county: str, kind: str = "warehouse") -> int:
    """A location of ``kind`` of ``county`` (made once per database)."""
    key = gln(990_000 + int(county[-2:]) + (500 if kind == "vehicle_compartment" else 0))
    async with env.db.transaction() as s:
        found = await s.scalar(select(Location.id).where(Location.gln == key))
        if found is not None:
            return int(found)
        loc = Location(
            kind=kind, name=f"ops {kind} {county}", county=county, gln=key,
            gln_extension="", created_by="test",
        )  # fmt: skip
        s.add(loc)
        await s.flush()
        return loc.id


async def _events(env: ApiEnv) -> int:
    async with env.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(TraceEvent)) or 0)


def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert r.json()["field"] == field, r.text
    assert r.json()["detail"].endswith("not found"), r.text


async def _theirs(env: ApiEnv) -> dict[str, str]:
    return {"gtin": G, "lot": await _lot(env, OTHER, "OPS-OTHER")}


async def _body(env: ApiEnv, step: str, theirs: dict[str, str]) -> tuple[dict[str, Any], str]:
    """A body naming another county's lot (or organisation), and the field refused."""
    here = await _location(env, HOME, _kind(step))
    if step == "harvest":
        org = await _org(env, OTHER)
        body = {"gtin": G, "lot": f"N{secrets.token_hex(3)}", "org_id": org, "quantity": 1,
                "unit": "KGM"}  # fmt: skip
        return body, "body.org_id"
    if step == "process":
        out = {"gtin": G, "lot": f"N{secrets.token_hex(3)}", "quantity": 1, "unit": "KGM"}
        return {"inputs": [theirs], "output": out, "process": "washing"}, "body.inputs[0]"
    if step == "test":
        return {"lot": theirs, "results": [{"test": "moisture", "passed": True}]}, "body.lot"
    body: dict[str, Any] = {"lots": [theirs], "location_id": here}
    if step == "pack":
        body["parent"] = sscc(4242)
    return body, "body.lots[0]"


def _case(step: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        theirs = await _theirs(env)
        before = await _events(env)
        body, field = await _body(env, step, theirs)
        _refused(await env.client.post(f"{OPS}/{step}", json=body, headers=h), field)
        if step in ("store", "load", "receive", "sell"):
            # a location of another county is not found either (with a lot of one's own)
            mine = {"gtin": G, "lot": await _lot(env, HOME, "OPS-HOME")}
            body = {"lots": [mine], "location_id": await _location(env, OTHER, _kind(step))}
            r = await env.client.post(f"{OPS}/{step}", json=body, headers=h)
            _refused(r, "body.location_id")
        assert await _events(env) == before, "nothing stored"

    return case


OPS_CASES: dict[tuple[str, str], Case] = {("POST", f"{OPS}/{s}"): _case(s) for s in STEPS}


async def _write(env: ApiEnv, h: Headers, step: str) -> httpx.Response:
    lot = {"gtin": G, "lot": await _home_lot(env)}
    here = await _location(env, HOME, _kind(step))
    fresh = f"R{secrets.token_hex(4)}"
    if step == "harvest":
        from tests.cloud.trace_cases import _home_org

        await add_product(env, G, await _org(env, HOME), HOME)
        body: dict[str, Any] = {"gtin": G, "lot": fresh, "org_id": await _home_org(env),
                                "quantity": 1, "unit": "KGM"}  # fmt: skip
    elif step == "process":
        await add_product(env, G, await _org(env, HOME), HOME)
        body = {"inputs": [lot], "output": {"gtin": G, "lot": fresh, "quantity": 1, "unit": "KGM"},
                "process": "sorting"}  # fmt: skip
    elif step == "test":
        body = {"lot": lot, "results": [{"test": "moisture", "passed": True}]}
    else:
        body = {"lots": [lot], "location_id": here}
        if step == "pack":
            body["parent"] = sscc(4243)
    return await env.client.post(f"{OPS}/{step}", json=body, headers=h)


def _request(step: str) -> Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        return await _write(env, h, step)

    return call


OPS_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("POST", f"{OPS}/{s}"): _request(s) for s in STEPS
}
