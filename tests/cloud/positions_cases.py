"""County isolation and roles x endpoints for the positions routes (cloud/logistics/
positions): ``POSITIONS_CASES`` (tests/cloud/test_api_isolation.py) and
``POSITIONS_REQUESTS`` (tests/cloud/test_api_roles.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import func, select

from cloud.logistics.positions import trackers as svc
from cloud.logistics.positions.storage import Tracker
from tests.cloud.positions_support import add_vehicle
from tests.support.api import HOME, OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
WINDOW = {"start": "2026-05-01T00:00:00Z", "end": "2026-05-01T06:00:00Z"}


def vehicle(county: str) -> str:
    return f"truck-{county}"


async def tracker_of(env: ApiEnv, county: str) -> tuple[int, str]:
    """A live tracker of ``county``'s truck: (id, device id)."""
    await add_vehicle(env, vehicle(county), county)
    async with env.db.transaction() as s:
        reg = await svc.vehicle_of(s, vehicle(county))
        assert reg is not None
        issued = await svc.create(
            s, reg, label="test", speed_unit="ms", server_url="http://x/", actor="test"
        )
        return issued.tracker.id, issued.device_id


def _not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)


async def _count(env: ApiEnv) -> int:
    async with env.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Tracker)) or 0)


async def create(env: ApiEnv, h: Headers) -> None:
    await add_vehicle(env, vehicle(OTHER), OTHER)
    before = await _count(env)
    r = await env.client.post(
        "/api/v1/logistics/trackers", json={"vehicle": vehicle(OTHER)}, headers=h
    )
    _not_found(r)
    assert await _count(env) == before


async def listing(env: ApiEnv, h: Headers) -> None:
    await tracker_of(env, OTHER)
    r = await env.client.get("/api/v1/logistics/trackers", headers=h)
    assert r.status_code == 200 and all(t["county"] != OTHER for t in r.json()["items"]), r.text


async def one(env: ApiEnv, h: Headers) -> None:
    tid, _ = await tracker_of(env, OTHER)
    _not_found(await env.client.get(f"/api/v1/logistics/trackers/{tid}", headers=h))


async def patch(env: ApiEnv, h: Headers) -> None:
    tid, _ = await tracker_of(env, OTHER)
    r = await env.client.patch(
        f"/api/v1/logistics/trackers/{tid}", json={"speed_unit": "kn"}, headers=h
    )
    _not_found(r)


async def rotate(env: ApiEnv, h: Headers) -> None:
    tid, dev = await tracker_of(env, OTHER)
    _not_found(await env.client.post(f"/api/v1/logistics/trackers/{tid}/rotate", headers=h))
    async with env.db.session() as s:
        assert await svc.by_device_id(s, dev) is not None  # not rotated


async def revoke(env: ApiEnv, h: Headers) -> None:
    tid, dev = await tracker_of(env, OTHER)
    _not_found(await env.client.delete(f"/api/v1/logistics/trackers/{tid}", headers=h))
    async with env.db.session() as s:
        assert await svc.by_device_id(s, dev) is not None  # not revoked


async def osmand_get(env: ApiEnv, h: Headers) -> None:
    """Public: the device id is the credential; a user's credentials add nothing."""
    r = await env.client.get(
        "/api/v1/logistics/osmand", params={"id": "n" * 24, "lat": "24", "lon": "98"}, headers=h
    )
    assert (r.status_code, r.json()) == (400, {"detail": "unknown device"})


async def osmand_post(env: ApiEnv, h: Headers) -> None:
    r = await env.client.post(
        "/api/v1/logistics/osmand", data={"id": "n" * 24, "lat": "24", "lon": "98"}, headers=h
    )
    assert (r.status_code, r.json()) == (400, {"detail": "unknown device"})


async def positions(env: ApiEnv, h: Headers) -> None:
    await add_vehicle(env, vehicle(OTHER), OTHER)
    r = await env.client.get(
        f"/api/v1/logistics/vehicles/{vehicle(OTHER)}/positions", params=WINDOW, headers=h
    )
    _not_found(r)


async def tracks(env: ApiEnv, h: Headers) -> None:
    await add_vehicle(env, vehicle(OTHER), OTHER)
    r = await env.client.get(
        f"/api/v1/logistics/vehicles/{vehicle(OTHER)}/tracks", params=WINDOW, headers=h
    )
    _not_found(r)


POSITIONS_CASES: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/logistics/trackers"): create,
    ("GET", "/api/v1/logistics/trackers"): listing,
    ("GET", "/api/v1/logistics/trackers/{tracker_id}"): one,
    ("PATCH", "/api/v1/logistics/trackers/{tracker_id}"): patch,
    ("POST", "/api/v1/logistics/trackers/{tracker_id}/rotate"): rotate,
    ("DELETE", "/api/v1/logistics/trackers/{tracker_id}"): revoke,
    ("GET", "/api/v1/logistics/osmand"): osmand_get,
    ("POST", "/api/v1/logistics/osmand"): osmand_post,
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/positions"): positions,
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/tracks"): tracks,
}


async def _home_tracker(env: ApiEnv) -> int:
    return (await tracker_of(env, HOME))[0]


async def _req_create(e: ApiEnv, h: Headers) -> httpx.Response:
    await add_vehicle(e, vehicle(HOME), HOME)
    return await e.client.post(
        "/api/v1/logistics/trackers", json={"vehicle": vehicle(HOME)}, headers=h
    )


async def _req_fix(e: ApiEnv, h: Headers, method: str) -> httpx.Response:
    _, dev = await tracker_of(e, HOME)
    fix = {"id": dev, "lat": "24.4", "lon": "98.5", "timestamp": str(int(time.time()))}
    if method == "GET":
        return await e.client.get("/api/v1/logistics/osmand", params=fix, headers=h)
    return await e.client.post("/api/v1/logistics/osmand", data=fix, headers=h)


async def _req_vehicle(e: ApiEnv, h: Headers, what: str) -> httpx.Response:
    await add_vehicle(e, vehicle(HOME), HOME)
    return await e.client.get(
        f"/api/v1/logistics/vehicles/{vehicle(HOME)}/{what}", params=WINDOW, headers=h
    )


async def _req_tracker(e: ApiEnv, h: Headers, method: str, suffix: str = "") -> httpx.Response:
    tid = await _home_tracker(e)
    url = f"/api/v1/logistics/trackers/{tid}{suffix}"
    if method == "PATCH":
        return await e.client.patch(url, json={"speed_unit": "kn"}, headers=h)
    return await e.client.request(method, url, headers=h)


POSITIONS_REQUESTS: dict[
    tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
] = {
    ("POST", "/api/v1/logistics/trackers"): _req_create,
    ("GET", "/api/v1/logistics/trackers"): lambda e, h: e.client.get(
        "/api/v1/logistics/trackers", headers=h
    ),
    ("GET", "/api/v1/logistics/trackers/{tracker_id}"): lambda e, h: _req_tracker(e, h, "GET"),
    ("PATCH", "/api/v1/logistics/trackers/{tracker_id}"): lambda e, h: _req_tracker(e, h, "PATCH"),
    ("POST", "/api/v1/logistics/trackers/{tracker_id}/rotate"): lambda e, h: _req_tracker(
        e, h, "POST", "/rotate"
    ),
    ("DELETE", "/api/v1/logistics/trackers/{tracker_id}"): lambda e, h: _req_tracker(
        e, h, "DELETE"
    ),
    ("GET", "/api/v1/logistics/osmand"): lambda e, h: _req_fix(e, h, "GET"),
    ("POST", "/api/v1/logistics/osmand"): lambda e, h: _req_fix(e, h, "POST"),
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/positions"): lambda e, h: _req_vehicle(
        e, h, "positions"
    ),
    ("GET", "/api/v1/logistics/vehicles/{vehicle}/tracks"): lambda e, h: _req_vehicle(
        e, h, "tracks"
    ),
}
