"""County isolation and roles x endpoints for the custody routes: ``CUSTODY_CASES``
(tests/cloud/test_api_isolation.py runs them for every role of a county, on SQLite and
PostgreSQL) and ``CUSTODY_REQUESTS`` (tests/cloud/test_api_roles.py, every role)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from cloud.catalog.storage import Organisation
from cloud.trace.lots.storage import TraceLot
from tests.cloud.trace_cases import G, _lot, _not_found
from tests.support.api import OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]


async def custody_get(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER, "C-OTHER")
    _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/{lot}/custody", headers=h))


async def custody_evidence(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER, "C-OTHER")
    _not_found(await env.client.post(f"/api/v1/trace/lots/{G}/{lot}/custody/evidence", headers=h))


CUSTODY_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/custody"): custody_get,
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/custody/evidence"): custody_evidence,
}


async def _home_lot(env: ApiEnv) -> str:
    """A lot of the roles table's HOME organisation (organisation roles belong to it)."""
    from tests.cloud.test_api_roles import _home_org

    org = await _home_org(env)
    async with env.db.transaction() as s:
        found = await s.scalar(select(TraceLot.lot).where(TraceLot.lot == "C-ROLES"))
        if found is None:
            home = await s.get_one(Organisation, org)
            s.add(TraceLot(gtin=G, lot="C-ROLES", county=home.county, org_id=org, created_by="t"))
    return "C-ROLES"


async def _read(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(f"/api/v1/trace/lots/{G}/{await _home_lot(env)}/custody", headers=h)


async def _compute(env: ApiEnv, h: Headers) -> httpx.Response:
    lot = await _home_lot(env)
    return await env.client.post(f"/api/v1/trace/lots/{G}/{lot}/custody/evidence", headers=h)


CUSTODY_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/custody"): _read,
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/custody/evidence"): _compute,
}
