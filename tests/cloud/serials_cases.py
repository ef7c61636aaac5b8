"""County isolation and roles x endpoints for the serial, label and scan routes
(cloud/resolver/serials, labels, scans): ``SERIALS_CASES`` (tests/cloud/
test_api_isolation.py) and ``SERIALS_REQUESTS`` (tests/cloud/test_api_roles.py)."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.db import utcnow
from cloud.resolver.scans import service as scans
from cloud.resolver.scans.storage import Scan, ScanFlag
from cloud.resolver.serials.keys import ensure_key
from cloud.resolver.serials.storage import SerialRange
from cloud.trace.lots.storage import TraceLot
from tests.support.api import HOME, OTHER, ApiEnv
from tests.support.epcis import gtin
from tests.support.trace_records import add_lot, add_org

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
G = gtin(615)


def _key(env: ApiEnv) -> None:
    """The serials' key in a private folder (as init-db makes it)."""
    if env.settings.serials_key_file is None:
        env.settings.serials_key_file = Path(tempfile.mkdtemp()) / "keys" / "serials.key"
    ensure_key(env.settings)


async def _lot(env: ApiEnv, county: str, number: str | None = None) -> str:
    """Lot SR-{county} of GTIN G with serials 1-10 and a flagged serial (made once)."""
    _key(env)
    number = number or f"SR-{county}"
    async with env.db.session() as s:
        found = await s.scalar(
            select(TraceLot.id).where(TraceLot.gtin == G, TraceLot.lot == number)
        )
    if found is not None:
        return number
    if number == "R-SERIALS":
        from tests.cloud.certs_cases import _home_org

        org = await _home_org(env)
    else:
        org = await add_org(env, county, 615 + int(county[-2:]))
    lot_id = await add_lot(env, org, G, number)
    async with env.db.transaction() as s:
        s.add(SerialRange(lot_id=lot_id, county=county, first=1, count=10, created_by="test"))
        s.add(ScanFlag(kind="too_many_scans", lot_id=lot_id, county=county, serial="1",
                       detail={"scans": 11, "limit": 10}))  # fmt: skip
    return number


async def _range(env: ApiEnv, county: str) -> int:
    lot = await _lot(env, county)
    async with env.db.session() as s:
        rid = await s.scalar(
            select(SerialRange.id)
            .join(TraceLot, TraceLot.id == SerialRange.lot_id)
            .where(TraceLot.gtin == G, TraceLot.lot == lot)
        )
    assert rid is not None
    return int(rid)


def _not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)


async def ranges_post(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER)
    async with env.db.session() as s:
        before = await s.scalar(select(func.count()).select_from(SerialRange))
    r = await env.client.post(f"/api/v1/trace/lots/{G}/{lot}/serial-ranges", json={"count": 5},
                              headers=h)  # fmt: skip
    _not_found(r)
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(SerialRange)) == before


async def ranges_get(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/{lot}/serial-ranges", headers=h))


async def uris_get(env: ApiEnv, h: Headers) -> None:
    rid = await _range(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/uris", headers=h))
    _not_found(await env.client.get("/api/v1/trace/serial-ranges/999999/uris", headers=h))


async def labels_get(env: ApiEnv, h: Headers) -> None:
    rid = await _range(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/labels", headers=h))


async def lot_qr(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/{lot}/qr", headers=h))


async def serial_qr(env: ApiEnv, h: Headers) -> None:
    lot = await _lot(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/trace/lots/{G}/{lot}/serials/1/qr", headers=h))


async def flags_list(env: ApiEnv, h: Headers) -> None:
    await _lot(env, OTHER)
    r = await env.client.get("/api/v1/trace/scan-flags", headers=h)
    assert r.status_code == 200 and all(x["county"] != OTHER for x in r.json()["items"]), r.text
    r = await env.client.get("/api/v1/trace/scan-flags", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def flags_counts(env: ApiEnv, h: Headers) -> None:
    await _lot(env, OTHER)
    await _lot(env, HOME)
    r = await env.client.get("/api/v1/trace/scan-flags/counts", headers=h)
    assert r.status_code == 200 and r.json()["total"] == 1, r.text  # HOME's only
    r = await env.client.get("/api/v1/trace/scan-flags/counts", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def place_post(env: ApiEnv, h: Headers) -> None:
    """Public: a token changes its own scan only; credentials change nothing."""
    lot = await _lot(env, OTHER)
    async with env.db.transaction() as s:
        got = await scans.record_scan(s, G, lot, "2", user_agent=None, at=utcnow())
    wrong = secrets.token_urlsafe(24)
    r = await env.client.post(f"/api/v1/public/scans/{wrong}/place", json={"lat": 31.2, "lon": 121.5},
                              headers=h)  # fmt: skip
    _not_found(r)
    async with env.db.session() as s:
        scan = await s.scalar(
            select(Scan).where(Scan.token_sha256 == scans.token_hash(got.scan_id))
        )
        assert scan is not None and scan.city is None


SERIALS_CASES: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/serial-ranges"): ranges_post,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/serial-ranges"): ranges_get,
    ("GET", "/api/v1/trace/serial-ranges/{range_id}/uris"): uris_get,
    ("GET", "/api/v1/trace/serial-ranges/{range_id}/labels"): labels_get,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/qr"): lot_qr,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/serials/{serial}/qr"): serial_qr,
    ("GET", "/api/v1/trace/scan-flags"): flags_list,
    ("GET", "/api/v1/trace/scan-flags/counts"): flags_counts,
    ("POST", "/api/v1/public/scans/{token}/place"): place_post,
}

# ---------------------------------------------------------------- roles x endpoints


async def _home_lot(env: ApiEnv) -> str:
    """A lot of the roles test's organisation, with serials 1-10."""
    return await _lot(env, HOME, "R-SERIALS")


async def _home_range(env: ApiEnv) -> int:
    lot = await _home_lot(env)
    async with env.db.session() as s:
        rid = await s.scalar(
            select(SerialRange.id)
            .join(TraceLot, TraceLot.id == SerialRange.lot_id)
            .where(TraceLot.gtin == G, TraceLot.lot == lot)
        )
    return int(rid)  # type: ignore[arg-type]


async def _issue(env: ApiEnv, h: Headers) -> httpx.Response:
    lot = await _home_lot(env)
    return await env.client.post(f"/api/v1/trace/lots/{G}/{lot}/serial-ranges", json={"count": 1},
                                 headers=h)  # fmt: skip


async def _on_lot(env: ApiEnv, h: Headers, suffix: str) -> httpx.Response:
    lot = await _home_lot(env)
    return await env.client.get(f"/api/v1/trace/lots/{G}/{lot}/{suffix}", headers=h)


async def _on_range(env: ApiEnv, h: Headers, suffix: str, **params: int) -> httpx.Response:
    rid = await _home_range(env)
    return await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/{suffix}", params=params,
                                headers=h)  # fmt: skip


async def _place(env: ApiEnv, h: Headers) -> httpx.Response:
    lot = await _home_lot(env)
    async with env.db.transaction() as s:
        got = await scans.record_scan(s, G, lot, "3", user_agent=None, at=utcnow())
    return await env.client.post(f"/api/v1/public/scans/{got.scan_id}/place",
                                 json={"lat": 24.4, "lon": 98.6}, headers=h)  # fmt: skip


SERIALS_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("POST", "/api/v1/trace/lots/{gtin}/{lot}/serial-ranges"): _issue,
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/serial-ranges"): lambda e, h: _on_lot(
        e, h, "serial-ranges"
    ),
    ("GET", "/api/v1/trace/serial-ranges/{range_id}/uris"): lambda e, h: _on_range(e, h, "uris"),
    ("GET", "/api/v1/trace/serial-ranges/{range_id}/labels"): lambda e, h: _on_range(
        e, h, "labels", count=1
    ),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/qr"): lambda e, h: _on_lot(e, h, "qr"),
    ("GET", "/api/v1/trace/lots/{gtin}/{lot}/serials/{serial}/qr"): lambda e, h: _on_lot(
        e, h, "serials/1/qr"
    ),
    ("GET", "/api/v1/trace/scan-flags"): lambda e, h: e.client.get(
        "/api/v1/trace/scan-flags", headers=h
    ),
    ("GET", "/api/v1/trace/scan-flags/counts"): lambda e, h: e.client.get(
        "/api/v1/trace/scan-flags/counts", headers=h
    ),
    ("POST", "/api/v1/public/scans/{token}/place"): _place,
}


async def seed_paged(s: Any, county: str, i: int, lot_gtin: str, lot: str) -> None:
    """Row ``i`` of the serial-range and scan-flag lists for tests/cloud/test_pagination.py:
    a range of ten serials of the lot ``lot`` and a flag on its serial ``i``."""
    found = await s.scalar(select(TraceLot).where(TraceLot.gtin == lot_gtin, TraceLot.lot == lot))
    assert found is not None
    s.add(SerialRange(lot_id=found.id, county=county, first=10 * i + 1, count=10,
                      created_by="test"))  # fmt: skip
    s.add(ScanFlag(kind="too_many_scans", lot_id=found.id, county=county, serial=str(i),
                   detail={"scans": 11, "limit": 10}))  # fmt: skip
