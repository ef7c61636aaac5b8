"""The consumer trace page's routes (cloud/resolver/page, issue 12) in the
county-isolation table (``PAGE_CASES``, tests/cloud/test_api_isolation.py) and the
roles table (``PAGE_REQUESTS``, tests/cloud/test_api_roles.py).

The public page and its JSON are public by design (a shopper has no account): the
same answer for every caller, whatever county they are of. The operators' view is
``trace:read`` and county-scoped: another county's lot is 404. A thumbnail is served
only as part of its own lot's page: an inspection of another county is 404."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx

from cloud.inspections.storage import InspectionRecord
from tests.cloud.trace_cases import G, _lot, _not_found
from tests.support.api import HOME, OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    x, y = a.json(), b.json()
    x.pop("generated_at"), y.pop("generated_at")
    assert x == y


async def public_trace(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER, "P-OTHER")
    url = f"/api/v1/public/trace/{G}/{lot}"
    _same(await env.client.get(url, headers=h), await env.client.get(url))


async def _inspection(env: ApiEnv, county: str, lot: str) -> int:
    async with env.db.transaction() as s:
        rec = InspectionRecord(
            gateway_id=f"gw-{county}", event_id=f"page-{county}-{lot}-{secrets.token_hex(4)}", county=county,
            site="s", device="cam", ts=datetime.now(UTC), program="p", lot=lot, usable=True,
            counts={}, measurements={}, image_sha256="0" * 64, thumbnail_key="0" * 64, ts_ms=0,
        )  # fmt: skip
        s.add(rec)
        await s.flush()
        return rec.id


async def public_thumbnail(env: ApiEnv, h: Headers) -> None:
    # an inspection of another county naming a lot number of this county: not this lot's
    lot = await _lot(env, HOME, "P-HOME")
    other = await _inspection(env, OTHER, lot)
    r = await env.client.get(
        f"/api/v1/public/trace/{G}/{lot}/inspections/{other}/thumbnail", headers=h
    )
    _not_found(r)


async def operator_view(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER, "P-OTHER")
    _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/{lot}/operator-view", headers=h))


PAGE_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/public/trace/{gtin}/{lot}"): public_trace,
    ("GET", "/api/v1/public/trace/{gtin}/{lot}/inspections/{inspection_id}/thumbnail"): (
        public_thumbnail
    ),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/operator-view"): operator_view,
}


async def _home(env: ApiEnv) -> str:
    from tests.cloud.custody_cases import _home_lot

    return await _home_lot(env)


async def _get(env: ApiEnv, h: Headers, tail: str) -> httpx.Response:
    return await env.client.get(tail.format(g=G, lot=await _home(env)), headers=h)


PAGE_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("GET", "/api/v1/public/trace/{gtin}/{lot}"): lambda e, h: _get(
        e, h, "/api/v1/public/trace/{g}/{lot}"
    ),
    ("GET", "/api/v1/public/trace/{gtin}/{lot}/inspections/{inspection_id}/thumbnail"): (
        lambda e, h: _get(e, h, "/api/v1/public/trace/{g}/{lot}/inspections/1/thumbnail")
    ),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/operator-view"): lambda e, h: _get(
        e, h, "/api/v1/trace/lots/{g}/{lot}/operator-view"
    ),
}
