"""The wall screen's routes in the isolation table (``SCREEN_CASES``,
tests/cloud/test_api_isolation.py) and the roles table (``SCREEN_REQUESTS``,
tests/cloud/test_api_roles.py): a county reads its own county's panels only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import func, select

from cloud.coldchain.storage import ColdchainAlarm
from cloud.db import utcnow
from tests.support.api import HOME, OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
BASE = "/api/v1/screen"


async def other_alarms(env: ApiEnv, n: int = 3) -> None:
    async with env.db.transaction() as s:
        for _ in range(n):
            s.add(ColdchainAlarm(
                county=OTHER, device="iso-screen-room", metric="temperature", rule="range",
                source="cloud", severity="major", status="raised", active=True, count=1,
                first_ms=0, last_ms=0, message="", raised_at=utcnow(),
            ))  # fmt: skip


async def open_alarms(env: ApiEnv, county: str) -> int:
    async with env.db.session() as s:
        q = select(func.count()).where(
            ColdchainAlarm.county == county, ColdchainAlarm.status.in_(("raised", "acknowledged"))
        )
        return int((await s.execute(q)).scalar_one())


def _forbidden(r: httpx.Response) -> None:
    assert r.status_code == 403, (r.request.url, r.status_code, r.text)


async def data(env: ApiEnv, h: Headers) -> None:
    await other_alarms(env)
    r = await env.client.get(f"{BASE}/data", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counties"] == [HOME]
    panel = next(p for p in body["panels"] if p["id"] == "open_alarms")
    assert panel["value"] == await open_alarms(env, HOME)
    _forbidden(await env.client.get(f"{BASE}/data", params={"county": OTHER}, headers=h))


async def panel(env: ApiEnv, h: Headers) -> None:
    await other_alarms(env)
    r = await env.client.get(f"{BASE}/panels/open_alarms", headers=h)
    assert r.status_code == 200 and r.json()["counties"] == [HOME], r.text
    assert r.json()["value"] == await open_alarms(env, HOME)
    _forbidden(
        await env.client.get(f"{BASE}/panels/open_alarms", params={"county": OTHER}, headers=h)
    )


SCREEN_CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{BASE}/data"): data,
    ("GET", f"{BASE}/panels/{{panel_id}}"): panel,
}


def _get(path: str) -> Call:
    return lambda e, h: e.client.get(path, headers=h)


SCREEN_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", f"{BASE}/data"): _get(f"{BASE}/data"),
    ("GET", f"{BASE}/panels/{{panel_id}}"): _get(f"{BASE}/panels/open_alarms"),
    # the pages: public shells (they hold no data)
    ("GET", "/screen"): _get("/screen"),
    ("GET", "/screen/{county}"): _get(f"/screen/{HOME}"),
}
