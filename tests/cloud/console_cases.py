"""The dispatcher console's routes (cloud/logistics/console, issue 13) in the
county-isolation table (``CONSOLE_CASES``, tests/cloud/test_api_isolation.py) and the
roles table (``CONSOLE_REQUESTS``, tests/cloud/test_api_roles.py).

Every case puts a record of the other county where the route would show it (a vehicle
with a fix, an alarm, a waybill, a trip) and checks that it never appears; the
providers' fakes answer every county on purpose, so the console's own filter is what
is tested."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from cloud.logistics.console import providers
from tests.cloud.console_support import FakeAlarms, fix, replay_fixture, vehicles
from tests.support.api import OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
BASE = "/api/v1/logistics/console"


async def _other_vehicle(env: ApiEnv) -> str:
    (dev,) = await vehicles(env, OTHER, 1, prefix=f"iso-{OTHER}-{secrets.token_hex(4)}")
    await fix(env, dev, OTHER, 24.18, 97.79)
    return dev


def _absent(r: httpx.Response, *needles: str) -> None:
    assert r.status_code == 200, (r.request.url, r.status_code, r.text)
    for n in needles:
        assert n not in r.text, (r.request.url, n)


async def snapshot(env: ApiEnv, h: Headers) -> None:
    dev = await _other_vehicle(env)
    r = await env.client.get(f"{BASE}/snapshot", headers=h)
    _absent(r, dev, OTHER)


async def stream(env: ApiEnv, h: Headers) -> None:
    dev = await _other_vehicle(env)
    r = await env.client.get(f"{BASE}/stream", params={"max_s": 0}, headers=h)
    _absent(r, dev)
    assert "event: snapshot" in r.text


async def _with(name: str, fn: Any, call: Awaitable[httpx.Response]) -> httpx.Response:
    providers.register_provider(name, fn)
    try:
        return await call
    finally:
        providers.unregister_provider(name)


async def alarms(env: ApiEnv, h: Headers) -> None:
    fake = FakeAlarms()
    fake.raise_alarm(OTHER, "veh-x", "冷机温度超限 other county")
    r = await _with("alarms", fake.list, env.client.get(f"{BASE}/alarms?state=all", headers=h))
    _absent(r, "other county")
    assert r.json()["connected"] is True


async def alarm_ack(env: ApiEnv, h: Headers) -> None:
    fake = FakeAlarms()
    ident = fake.raise_alarm(OTHER, "veh-x", "other county")
    fake.register()
    try:
        r = await env.client.post(f"{BASE}/alarms/{ident}/ack", json={"comment": "x"}, headers=h)
    finally:
        providers.unregister_provider("alarms")
        providers.unregister_provider("alarm_ack")
    assert r.status_code == 404, r.text
    assert fake.acks == [] and fake.rows[ident]["state"] == "raised"


def _rows(**row: Any) -> Any:
    async def fn(call: providers.Call, *args: Any) -> list[dict[str, Any]]:
        return [dict(row, county=OTHER)]

    return fn


async def waybills(env: ApiEnv, h: Headers) -> None:
    fn = _rows(id="wb-o", number="WB-OTHER-1", state="departed")
    r = await _with("waybills", fn, env.client.get(f"{BASE}/waybills", headers=h))
    _absent(r, "WB-OTHER-1")


async def capacity(env: ApiEnv, h: Headers) -> None:
    fn = _rows(vehicle="veh-other-cap", temp_class="chilled", day="2026-01-01")
    r = await _with("capacity", fn, env.client.get(f"{BASE}/capacity", headers=h))
    _absent(r, "veh-other-cap")


async def trips(env: ApiEnv, h: Headers) -> None:
    fn = _rows(id="trip-other", vehicle="veh-o", started_at="2026-01-01T00:00:00Z")
    r = await _with("trips", fn, env.client.get(f"{BASE}/trips", headers=h))
    _absent(r, "trip-other")


async def replay(env: ApiEnv, h: Headers) -> None:
    async def fn(call: providers.Call, trip_id: str) -> dict[str, Any]:
        return replay_fixture(OTHER, "veh-o")

    r = await _with("replay", fn, env.client.get(f"{BASE}/trips/trip-1/replay", headers=h))
    assert r.status_code == 404, r.text
    assert r.json()["detail"].endswith("not found")


CONSOLE_CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{BASE}/snapshot"): snapshot,
    ("GET", f"{BASE}/stream"): stream,
    ("GET", f"{BASE}/alarms"): alarms,
    ("POST", f"{BASE}/alarms/{{alarm_id}}/ack"): alarm_ack,
    ("GET", f"{BASE}/waybills"): waybills,
    ("GET", f"{BASE}/capacity"): capacity,
    ("GET", f"{BASE}/trips"): trips,
    ("GET", f"{BASE}/trips/{{trip_id}}/replay"): replay,
}

Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]


def _get(path: str) -> Call:
    return lambda e, h: e.client.get(path, headers=h)


CONSOLE_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", f"{BASE}/snapshot"): _get(f"{BASE}/snapshot"),
    ("GET", f"{BASE}/stream"): _get(f"{BASE}/stream?max_s=0"),
    ("GET", f"{BASE}/alarms"): _get(f"{BASE}/alarms"),
    ("POST", f"{BASE}/alarms/{{alarm_id}}/ack"): lambda e, h: e.client.post(
        f"{BASE}/alarms/al-1/ack", json={"comment": ""}, headers=h
    ),
    ("GET", f"{BASE}/waybills"): _get(f"{BASE}/waybills"),
    ("GET", f"{BASE}/capacity"): _get(f"{BASE}/capacity"),
    ("GET", f"{BASE}/trips"): _get(f"{BASE}/trips"),
    ("GET", f"{BASE}/trips/{{trip_id}}/replay"): _get(f"{BASE}/trips/t-1/replay"),
    # the page and the tile stub: public (they hold no data)
    ("GET", "/console"): _get("/console"),
    ("GET", "/tiles/stub/{z}/{x}/{y}.png"): _get("/tiles/stub/3/6/3.png"),
}
