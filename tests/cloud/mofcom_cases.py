"""The MOFCOM docking's routes (cloud/services/mofcom) in the county-isolation table
(``MOFCOM_CASES``), the roles table (``MOFCOM_REQUESTS``) and the pagination walk
(``seed_paged``).

The export is county figures: a county role gets its own county's entry only, never
another county's nor the prefecture's. The delivery log holds no county's records (a
month, an endpoint, attempts), and only the prefecture pushes (``mofcom:write``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from cloud.services.mofcom.fields import FORMAT_VERSION
from cloud.services.mofcom.storage import MofcomDelivery
from tests.support.api import HOME, OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
V = "/api/v1/services/mofcom"


async def _delivery(env: ApiEnv) -> int:
    cache: dict[str, Any] = env.__dict__.setdefault("_mofcom", {})
    if "delivery" not in cache:
        async with env.db.transaction() as s:
            s.add(row := _row("2026-03", 0))
            await s.flush()
            cache["delivery"] = row.id
    return int(cache["delivery"])


def _row(month: str, i: int) -> MofcomDelivery:
    return MofcomDelivery(month=month, format_version=FORMAT_VERSION, trigger="cli",
                          endpoint="https://relay.example/inbox", actor="cli", status="sent",
                          attempts=1, last_status_code=200, body_sha256=f"{i:064x}",
                          body_bytes=100)  # fmt: skip


async def export_case(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get(f"{V}/export", params={"month": "2026-03"}, headers=h)
    assert r.status_code == 200, r.text
    assert [c["county"] for c in r.json()["counties"]] == [HOME], r.text
    assert OTHER not in r.text


async def deliveries_case(env: ApiEnv, h: Headers) -> None:
    await _delivery(env)
    r = await env.client.get(f"{V}/deliveries", headers=h)
    assert r.status_code == 200 and OTHER not in r.text, r.text


async def delivery_case(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get(f"{V}/deliveries/{await _delivery(env)}", headers=h)
    assert r.status_code == 200 and OTHER not in r.text, r.text


async def push_case(env: ApiEnv, h: Headers) -> None:
    r = await env.client.post(f"{V}/deliveries", json={"month": "2026-03"}, headers=h)
    assert r.status_code == 403, r.text  # a county does not push the prefecture's export


MOFCOM_CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{V}/export"): export_case,
    ("GET", f"{V}/deliveries"): deliveries_case,
    ("GET", f"{V}/deliveries/{{delivery_id}}"): delivery_case,
    ("POST", f"{V}/deliveries"): push_case,
}


async def _get_one(e: ApiEnv, h: Headers) -> httpx.Response:
    return await e.client.get(f"{V}/deliveries/{await _delivery(e)}", headers=h)


MOFCOM_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", f"{V}/export"): lambda e, h: e.client.get(
        f"{V}/export", params={"month": "2026-03"}, headers=h
    ),
    ("GET", f"{V}/deliveries"): lambda e, h: e.client.get(f"{V}/deliveries", headers=h),
    ("GET", f"{V}/deliveries/{{delivery_id}}"): _get_one,
    # no endpoint configured in the tests: 409 for who may push, 403/401 for the others
    ("POST", f"{V}/deliveries"): lambda e, h: e.client.post(
        f"{V}/deliveries", json={"month": "2026-03"}, headers=h
    ),
}


async def seed_paged(s: Any, i: int) -> None:
    """One delivery per call, for the list walk (not a county record)."""
    s.add(_row(f"2025-{i % 12 + 1:02d}", 1000 + i))
