"""County isolation and roles x endpoints for the cold-chain routes: ``COLDCHAIN_CASES``
(tests/cloud/test_api_isolation.py) and ``COLDCHAIN_REQUESTS``
(tests/cloud/test_api_roles.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from cloud.coldchain.storage import ColdchainAlarm
from cloud.db import utcnow
from tests.cloud.trace_cases import _not_found
from tests.support.api import HOME, OTHER, T0, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
START = "2026-01-01T00:00:00Z"
END = "2026-01-01T01:00:00Z"


async def alarm_of(env: ApiEnv, county: str, org_id: int | None = None, tag: str = "") -> int:
    """An alarm of ``county`` (made once per database and tag)."""
    device = f"{'gw-m1' if county == HOME else 'gw-l1'}.room-1"
    rule = f"range{tag}"
    async with env.db.transaction() as s:
        found = await s.scalar(
            select(ColdchainAlarm.id).where(
                ColdchainAlarm.county == county, ColdchainAlarm.rule == rule
            )
        )
        if found is not None:
            return int(found)
        a = ColdchainAlarm(
            county=county, org_id=org_id, device=device, metric="temp_c", rule=rule,
            source="cloud", severity="warning", status="raised", active=True, count=1,
            first_ms=T0, last_ms=T0, peak_c=9.0, message="", raised_at=utcnow(),
            escalation_step=0, detail={},
        )  # fmt: skip
        s.add(a)
        await s.flush()
        return a.id


async def alarms_list(env: ApiEnv, h: Headers) -> None:
    other = await alarm_of(env, OTHER)
    r = await env.client.get("/api/v1/coldchain/alarms", headers=h)
    assert r.status_code == 200, r.text
    assert other not in [a["id"] for a in r.json()["items"]]
    assert all(a["county"] != OTHER for a in r.json()["items"])
    r = await env.client.get(f"/api/v1/coldchain/alarms?county={OTHER}", headers=h)
    assert r.status_code == 403


async def alarm_get(env: ApiEnv, h: Headers) -> None:
    other = await alarm_of(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/coldchain/alarms/{other}", headers=h))


async def alarm_ack(env: ApiEnv, h: Headers) -> None:
    other = await alarm_of(env, OTHER)
    _not_found(
        await env.client.post(
            f"/api/v1/coldchain/alarms/{other}/acknowledge", json={"comment": "not mine"}, headers=h
        )
    )


async def excursions_list(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get("/api/v1/coldchain/excursions?device=gw-l1.room-1", headers=h)
    assert r.status_code == 200 and r.json() == []


async def device_mkt(env: ApiEnv, h: Headers) -> None:
    _not_found(
        await env.client.get(
            f"/api/v1/coldchain/devices/gw-l1.room-1/mkt?start={START}&end={END}", headers=h
        )
    )


COLDCHAIN_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/coldchain/alarms"): alarms_list,
    ("GET", "/api/v1/coldchain/alarms/{alarm_id}"): alarm_get,
    ("POST", "/api/v1/coldchain/alarms/{alarm_id}/acknowledge"): alarm_ack,
    ("GET", "/api/v1/coldchain/excursions"): excursions_list,
    ("GET", "/api/v1/coldchain/devices/{device}/mkt"): device_mkt,
}


async def _home_alarm(env: ApiEnv) -> int:
    from tests.cloud.test_api_roles import _home_org

    return await alarm_of(env, HOME, await _home_org(env), tag="-roles")


async def _list(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get("/api/v1/coldchain/alarms", headers=h)


async def _get(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(f"/api/v1/coldchain/alarms/{await _home_alarm(env)}", headers=h)


async def _ack(env: ApiEnv, h: Headers) -> httpx.Response:
    alarm = await _home_alarm(env)
    return await env.client.post(f"/api/v1/coldchain/alarms/{alarm}/acknowledge",
                                 json={"comment": "checked"}, headers=h)  # fmt: skip


async def _exc(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get("/api/v1/coldchain/excursions?device=gw-m1.room-1", headers=h)


async def _mkt(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(
        f"/api/v1/coldchain/devices/gw-m1.room-1/mkt?start={START}&end={END}", headers=h
    )


COLDCHAIN_REQUESTS: dict[
    tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
] = {
    ("GET", "/api/v1/coldchain/alarms"): _list,
    ("GET", "/api/v1/coldchain/alarms/{alarm_id}"): _get,
    ("POST", "/api/v1/coldchain/alarms/{alarm_id}/acknowledge"): _ack,
    ("GET", "/api/v1/coldchain/excursions"): _exc,
    ("GET", "/api/v1/coldchain/devices/{device}/mkt"): _mkt,
}
